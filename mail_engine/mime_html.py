"""HTML helpers of the MIME parser: text to HTML, HTML to text, cid URLs.

Public through :mod:`.mime` (``mime.html_to_text``, ``mime.replace_cids``).
"""

import html as html_lib
import re
from urllib.parse import unquote

from lxml import etree
from lxml import html as lxml_html

_CID_ATTR_RE = re.compile(
    r"""(\b(?:src|background)\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.IGNORECASE
)
_CID_URL_RE = re.compile(r"""(url\(\s*)(["']?)cid:([^"'\s)]+)\2""", re.IGNORECASE)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_SPACES_RE = re.compile(r"\s+")
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DROP_TAGS = ("script", "style", "head", "title")
_BLOCK_TAGS = (
    "p div br tr li ul ol table blockquote pre h1 h2 h3 h4 h5 h6 hr dt dd"
).split()


def text_to_html(text):
    """Render plain text as HTML paragraphs (escaped, line breaks kept).

    :param str text: plain text
    :return: ``<p>...</p>`` blocks
    """
    paragraphs = re.split(r"\n[ \t]*\n", text.strip("\n"))
    return "".join(
        "<p>%s</p>" % html_lib.escape(p).replace("\n", "<br>\n")
        for p in paragraphs
        if p.strip()
    )


def html_to_text(html):
    """Extract readable text from HTML, cheaply (lxml, no layout).

    Scripts, styles and the head are dropped. Whitespace follows HTML rules
    (runs collapse to one space, except inside ``<pre>``); block elements
    and ``<br>`` end lines; lines are stripped and empty ones dropped.

    :param str html: an HTML document or fragment
    :return: plain text
    """
    if not html or not html.strip():
        return ""
    # lxml refuses str input carrying an encoding declaration, and text
    # that XML cannot hold (control characters, lone surrogates)
    html = _NOT_XML_RE.sub("", _XML_DECL_RE.sub("", html))
    try:
        text = _element_text(lxml_html.fromstring(html))
    except (etree.ParserError, ValueError):  # e.g. nothing but whitespace
        text = html_lib.unescape(_TAG_RE.sub(" ", html))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _element_text(root):
    """Text of a parsed tree, with line breaks where blocks end."""
    if not isinstance(root.tag, str) or root.tag in _DROP_TAGS:
        return ""  # a lone comment, or only a <title>
    for element in list(root.iter(*_DROP_TAGS)):
        if element.getparent() is not None:
            element.drop_tree()
    verbatim = {d for pre in root.iter("pre") for d in pre.iter()}
    for element in root.iter():
        if element.text and element not in verbatim:
            element.text = _SPACES_RE.sub(" ", element.text)
        if element.tail and element.getparent() not in verbatim:
            element.tail = _SPACES_RE.sub(" ", element.tail)
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
        if element.tag != "br":
            element.text = "\n" + (element.text or "")
    return root.text_content()


def replace_cids(html, mapping):
    """Point ``cid:`` references of an HTML body at stored attachments.

    Matches ``src=``/``background=`` attributes and CSS ``url()``. The id is
    looked up as written (RFC 2392 ids are case-sensitive), then URL-decoded.

    :param str html: the HTML body
    :param dict mapping: ``{content_id without brackets: url}``
    :return: the HTML with known ``cid:`` references replaced
    """
    if not html or not mapping or "cid:" not in html.lower():
        return html

    def _replace(match):
        cid = match.group(3)
        url = mapping.get(cid) or mapping.get(unquote(cid))
        if url is None:
            return match.group(0)
        # an unquoted attribute gets quotes: the URL may hold "&" or spaces
        quote = match.group(2) or ("" if match.group(1)[:3].lower() == "url" else '"')
        return f"{match.group(1)}{quote}{html_lib.escape(url, quote=True)}{quote}"

    html = _CID_ATTR_RE.sub(_replace, html)
    return _CID_URL_RE.sub(_replace, html)


#: a URL the browser would fetch from elsewhere (a tracking pixel, say);
#: ``/web/image/...`` (our own stored cid images) and ``data:`` stay
_REMOTE_URL_RE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_REMOTE_RE = re.compile(
    r"""url\(\s*(["']?)\s*(?:[a-z][a-z0-9+.-]*:)?//[^)]*\)""", re.IGNORECASE
)
#: attributes that make a browser load a resource by themselves
_LOADING_ATTRS = ("src", "srcset", "background", "poster", "lowsrc", "dynsrc")
BLOCKED_ATTR = "data-crm-mail-blocked"


def block_remote_images(html):
    """Remove every reference to remote content a browser would load by itself.

    Remote images (``<img src="https://...">``, ``srcset``, ``background``,
    ``poster``, CSS ``url(//...)``) tell the sender when and where the mail
    was opened. The blocked elements keep their ``alt`` text and get a
    ``data-crm-mail-blocked`` attribute.

    :param str html: sanitized HTML
    :return: tuple ``(html, blocked)``: the HTML without remote loads and
        how many references were removed
    """
    if not html or ("//" not in html):
        return html, 0
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    blocked = 0
    for element in root.iter(etree.Element):
        for attr in _LOADING_ATTRS:
            value = element.get(attr)
            if value is None:
                continue
            urls = [part.strip().split(" ")[0] for part in value.split(",")]
            if attr != "srcset":
                urls = [value]
            if any(_REMOTE_URL_RE.match(url) for url in urls):
                del element.attrib[attr]
                element.set(BLOCKED_ATTR, "1")
                blocked += 1
        style = element.get("style")
        if style and _CSS_REMOTE_RE.search(style):
            element.set("style", _CSS_REMOTE_RE.sub("none", style))
            element.set(BLOCKED_ATTR, "1")
            blocked += 1
    if not blocked:
        return html, 0
    inner = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    return inner, blocked
