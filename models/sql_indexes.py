"""Partial unique indexes: Odoo's ``tools.sql`` makes unique or partial
indexes, not both."""

from odoo.tools import SQL


def create_partial_unique_indexes(model, indexes):
    """Create the unique indexes of ``model`` that do not exist yet.

    :param model: the model whose table they index
    :param dict indexes: ``{name: (columns, where)}``, both SQL text
    """
    for name, (columns, where) in indexes.items():
        model.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (%s) WHERE %s",
                SQL.identifier(name),
                SQL.identifier(model._table),
                SQL(columns),
                SQL(where),
            )
        )
