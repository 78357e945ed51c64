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


#: what a mail may make the browser load by itself: inline data, a part of
#: the mail (``cid:``) and our own stored attachments. Everything else is
#: remote, however it is spelt: ``http:evil.test`` (no slashes), ``//x``,
#: ``/\\x``, a relative path, an entity or a CSS escape.
_LOCAL_PATHS = ("/web/image/", "/web/content/")
#: characters browsers drop from URLs (ASCII tab and newlines anywhere;
#: C0 controls and spaces at the ends)
_URL_JUNK_RE = re.compile(r"[\t\n\r]")
_URL_TRIM = "".join(chr(code) for code in range(0x21))
#: attributes that make a browser load a resource by themselves
_LOADING_ATTRS = (
    "src",
    "srcset",
    "background",
    "poster",
    "lowsrc",
    "dynsrc",
    "data",
    "href",
    "xlink:href",
    "{http://www.w3.org/1999/xlink}href",
)
#: elements whose ``href`` is a link to click, not a load
_LINK_TAGS = ("a", "area")
#: CSS that loads an image, once escapes are undone: url(), image-set()...
_CSS_LOADER_RE = re.compile(
    r"(?:url|image-set|-webkit-image-set|image|cross-fade|element)\s*\(|@import",
    re.IGNORECASE,
)
_CSS_URL_RE = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE | re.S)
_CSS_STRING_RE = re.compile(r"""(["'])(.*?)\1""", re.S)
_CSS_ESCAPE_RE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", re.S)
BLOCKED_ATTR = "data-crm-mail-blocked"


def is_local_url(url):
    """Whether a browser would load ``url`` from the mail or from us only.

    :param str url: an attribute value or CSS url, entities already decoded
    :return: True for ``data:``, ``cid:`` and our ``/web/image/`` or
        ``/web/content/`` paths; False for anything that may leave
    """
    url = _URL_JUNK_RE.sub("", url).strip(_URL_TRIM)
    if not url or url.startswith("#"):
        return True  # nothing to load, or a place in this page
    # browsers read a backslash as a slash in web URLs: /\\evil.test
    url = url.replace("\\", "/").lower()
    if url.startswith(("data:", "cid:")):
        return True
    # our own paths, and no way out of them: /web/image/../session/logout
    return url.startswith(_LOCAL_PATHS) and ".." not in url and "%2e" not in url


def _css_unescape(text):
    def unescape(match):
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code < 0x110000 else "\ufffd"
        return match.group(2)

    return _CSS_ESCAPE_RE.sub(unescape, text)


def _css_loads_remote(value):
    """Whether a CSS value (a declaration or a style sheet) loads anything
    that is not local: every ``url()`` and every string of ``image-set()``
    counts; an escaped or unparsable loader counts as remote."""
    text = _css_unescape(value)
    if not _CSS_LOADER_RE.search(text):
        return False
    if "@import" in text.lower():
        return True
    urls = [m.group(2) for m in _CSS_URL_RE.finditer(text)]
    # image-set("a.png" 1x) takes plain strings as URLs
    urls += [m.group(2) for m in _CSS_STRING_RE.finditer(_CSS_URL_RE.sub("", text))]
    if not urls:
        return True  # a loader we could not read: not trusted
    return not all(is_local_url(url) for url in urls)


def _safe_style(style):
    """The declarations of a style attribute that load nothing remote.

    :return: ``(style, removed)``: the kept declarations and how many went
    """
    kept, removed = [], 0
    for declaration in style.split(";"):
        if _css_loads_remote(declaration):
            removed += 1
        elif declaration.strip():
            kept.append(declaration.strip())
    return ";".join(kept), removed


def block_remote_images(html):
    """Remove every reference to content a browser would load by itself
    from anywhere but the mail and our own server.

    An allowlist (see :func:`is_local_url`): remote images (a tracking
    pixel tells the sender when and where the mail was opened) are blocked
    however their URL is written, in ``src``, ``srcset``, ``background``,
    ``poster`` and the like, and in every CSS ``url()`` or ``image-set()``
    of a style attribute. The blocked elements keep their ``alt`` text and
    get a ``data-crm-mail-blocked`` attribute.

    :param str html: sanitized HTML
    :return: tuple ``(html, blocked)``: the HTML without remote loads and
        how many references were removed
    """
    if not html or "<" not in html:
        return html, 0
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    blocked = 0
    for element in list(root.iter(etree.Element)):
        if element.tag == "style":
            if _css_loads_remote(element.text or ""):
                element.drop_tree()
                blocked += 1
            continue
        for attr in _LOADING_ATTRS:
            value = element.get(attr)
            if value is None or (attr == "href" and element.tag in _LINK_TAGS):
                continue
            urls = [value]
            if attr == "srcset":
                urls = [part.strip().split(" ")[0] for part in value.split(",")]
            if not all(is_local_url(url) for url in urls):
                del element.attrib[attr]
                element.set(BLOCKED_ATTR, "1")
                blocked += 1
        style = element.get("style")
        if style:
            safe, removed = _safe_style(style)
            if removed:
                element.set("style", safe)
                element.set(BLOCKED_ATTR, "1")
                blocked += removed
    if not blocked:
        return html, 0
    inner = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    return inner, blocked
