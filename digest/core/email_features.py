"""What an email's HTML uses, named as caniemail names features (``html-table``, ``css-max-width``, ...).

``scan(html)`` parses the HTML with the standard library and reports every feature it finds with where,
plus what a reviewer must see: images without alt text and links that are not https. Markup inside
Outlook-only conditional comments (``<!--[if mso]>``) is not parsed: only Outlook reads it. CSS inside
``@media`` rules is reported apart, as progressive enhancement: a client that ignores the query keeps the
layout the inline styles give.

Pure logic; imports nothing of digest.
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

ELEMENTS = {
    **dict.fromkeys(("table", "tr", "td", "th", "tbody", "thead", "tfoot"), "html-table"),
    **dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "html-h1-h6"),
    **dict.fromkeys(("ul", "ol", "li", "dl", "dt", "dd"), "html-lists"),
    **dict.fromkeys(("strong", "b"), "html-strong"),
    **dict.fromkeys(
        ("article", "aside", "details", "figcaption", "figure", "footer", "header"), "html-semantics"
    ),
    **dict.fromkeys(("main", "mark", "nav", "section", "summary", "time"), "html-semantics"),
    **dict.fromkeys(("rt", "rp", "ruby", "abbr", "acronym", "address", "audio", "bdi", "blockquote"), ""),
    **dict.fromkeys(("code", "del", "dfn", "dialog", "div", "form", "hr", "img", "link", "marquee"), ""),
    **dict.fromkeys(("meter", "object", "p", "picture", "pre", "progress", "select", "small"), ""),
    **dict.fromkeys(("span", "strike", "style", "svg", "textarea", "video", "wbr", "base", "body"), ""),
}
ATTRIBUTES = {
    "lang": "html-lang",
    "dir": "html-dir",
    "role": "html-role",
    "align": "html-align",
    "valign": "html-valign",
    "cellpadding": "html-cellpadding",
    "cellspacing": "html-cellspacing",
    "background": "html-background",
    "target": "html-target",
    "srcset": "html-srcset",
    "loading": "html-loading-attribute",
    "hidden": "html-hidden",
    "required": "html-required",
    "popover": "html-popover",
    "aria-hidden": "html-aria-hidden",
    "aria-label": "html-aria-label",
    "aria-labelledby": "html-aria-labelledby",
    "aria-describedby": "html-aria-describedby",
    "aria-live": "html-aria-live",
    "usemap": "html-image-maps",
}
SIDES = re.compile(r"-(top|right|bottom|left)$")
LONGHANDS = {"border": "css-border", "margin": "css-margin", "padding": "css-padding"}
UNITS = re.compile(r"(?<![\w#-])-?\d*\.?\d+(px|em|rem|%|vh|vw|vmin|vmax|pt|pc|cm|mm|in|ch|ex)\b")
UNIT_SLUG = {"%": "percent"}
FUNCTIONS = {
    "rgb(": "css-rgb",
    "rgba(": "css-rgba",
    "calc(": "css-unit-calc",
    "linear-gradient(": "css-linear-gradient",
    "radial-gradient(": "css-radial-gradient",
    "conic-gradient(": "css-conic-gradient",
    "var(": "css-variables",
    "min(": "css-function-min",
    "max(": "css-function-max",
    "clamp(": "css-function-clamp",
    "light-dark(": "css-function-light-dark",
}
AT_RULES = {"font-face": "css-at-font-face", "import": "css-at-import", "keyframes": "css-at-keyframes"}
AT_RULES |= {"supports": "css-at-supports", "media": "css-at-media"}
MEDIA_FEATURES = {
    "prefers-color-scheme": "css-at-media-prefers-color-scheme",
    "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
    "orientation": "css-at-media-orientation",
    "hover": "css-at-media-hover",
    "device-pixel-ratio": "css-at-media-device-pixel-ratio",
}
CONDITIONAL = re.compile(r"<!--\[if\s+(?!!mso)[^\]]*\]>.*?<!\[endif\]-->", re.IGNORECASE | re.DOTALL)


@dataclass
class Scan:
    """What one email uses. ``features``: slug -> where (first few places); ``enhancements``: the same for
    CSS inside ``@media`` rules."""

    features: dict[str, list[str]] = field(default_factory=dict)
    enhancements: dict[str, list[str]] = field(default_factory=dict)
    images_without_alt: list[str] = field(default_factory=list)
    insecure_links: list[str] = field(default_factory=list)

    def add(self, slug: str, where: str, *, enhancement: bool = False) -> None:
        places = (self.enhancements if enhancement else self.features).setdefault(slug, [])
        if len(places) < 3 and where not in places:
            places.append(where)


def css_features(declarations: str) -> list[tuple[str, str]]:
    """(slug, declaration) for each declaration of an inline style or a rule body."""
    found: list[tuple[str, str]] = []
    for declaration in declarations.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if not colon or not name or name.startswith(("mso-", "-ms-", "-webkit-", "-moz-")):
            continue
        shown = f"{name}: {value}"
        found.append((property_slug(name, value), shown))
        if "!important" in value:
            found.append(("css-important", shown))
        found += [(slug, shown) for call, slug in FUNCTIONS.items() if call in value]
        for unit in UNITS.findall(value):
            found.append((f"css-unit-{UNIT_SLUG.get(unit, unit)}", shown))
    return found


def property_slug(name: str, value: str) -> str:
    if name == "display":
        kind = value.replace("!important", "").strip()
        return f"css-display-{kind}" if kind in ("flex", "grid", "none") else "css-display"
    if name in ("top", "right", "bottom", "left"):
        return "css-left-right-top-bottom"
    if name.startswith("border") and "radius" in name:
        return "css-border-radius"
    base = SIDES.sub("", name)
    return LONGHANDS.get(base, f"css-{base}")


class _Parser(HTMLParser):
    def __init__(self, scan: Scan) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = scan
        self.in_style = False
        self.styles: list[str] = []

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.scan.add("html-doctype", "<!doctype>")

    def handle_comment(self, data: str) -> None:
        if not data.strip().startswith(("[if", "<![endif]", "<!")) and data.strip():
            self.scan.add("html-comments", "<!-- -->")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        slug = ELEMENTS.get(tag)
        if slug is not None:
            self.scan.add(slug or f"html-{tag}", f"<{tag}>")
        values = {name: value or "" for name, value in attrs}
        self.attributes(tag, values)
        if tag == "style":
            self.in_style = True
        if tag == "meta" and values.get("name", "").lower() in ("color-scheme", "supported-color-schemes"):
            self.scan.add("html-meta-color-scheme", f'<meta name="{values["name"]}">')
        if tag == "img" and not values.get("alt", "").strip() and values.get("role") != "presentation":
            self.scan.images_without_alt.append(values.get("src") or "(no src)")
        if tag == "a" and "href" in values:
            self.link(values["href"].strip())

    def attributes(self, tag: str, values: dict[str, str]) -> None:
        for name, value in values.items():
            slug = ATTRIBUTES.get(name)
            if name in ("width", "height") and tag not in ("img", "video"):
                slug = f"html-{name}"
            if slug:
                self.scan.add(slug, f"<{tag} {name}>")
            if name == "style":
                for found, declaration in css_features(value):
                    self.scan.add(found, f'<{tag} style="{declaration}">')

    def link(self, href: str) -> None:
        lowered = href.lower()
        if lowered.startswith("mailto:"):
            self.scan.add("html-mailto-links", "<a href=mailto:>")
        elif lowered.startswith("#"):
            self.scan.add("html-anchor-links", "<a href=#>")
        elif not lowered.startswith("https://") and href not in self.scan.insecure_links:
            self.scan.insecure_links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.styles.append(data)


def scan(html: str) -> Scan:
    """Every feature ``html`` uses outside Outlook-only conditional comments, and the reviewer's findings."""
    result = Scan()
    parser = _Parser(result)
    parser.feed(CONDITIONAL.sub("", html))
    parser.close()
    for sheet in parser.styles:
        stylesheet_features(sheet, result)
    return result


def stylesheet_features(sheet: str, result: Scan) -> None:
    sheet = re.sub(r"/\*.*?\*/", "", sheet, flags=re.DOTALL)
    for at_rule, prelude, body in blocks(sheet):
        if at_rule:
            name = at_rule.split()[0]
            # A media query is progressive enhancement: clients without it keep the inline layout.
            result.add(AT_RULES.get(name, f"css-at-{name}"), f"@{at_rule}", enhancement=name == "media")
            for feature, slug in MEDIA_FEATURES.items():
                if feature in prelude:
                    result.add(slug, f"@media ({feature})")
            for _, inner_selector, inner_body in blocks(body):
                rule(inner_selector, inner_body, result, enhancement=name == "media")
        else:
            rule(prelude, body, result, enhancement=False)


def rule(selector: str, body: str, result: Scan, *, enhancement: bool) -> None:
    where = selector.strip()[:60]
    for slug in selector_features(selector):
        result.add(slug, where, enhancement=enhancement)
    for slug, declaration in css_features(body):
        result.add(slug, f"{where} {{ {declaration} }}", enhancement=enhancement)


def blocks(sheet: str) -> list[tuple[str, str, str]]:
    """Top-level (at-rule name or "", prelude, body) of a stylesheet, braces balanced."""
    found: list[tuple[str, str, str]] = []
    depth, start, prelude = 0, 0, ""
    for index, char in enumerate(sheet):
        if char == "{":
            if depth == 0:
                prelude, start = sheet[start:index].strip(), index + 1
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                at_rule = prelude[1:] if prelude.startswith("@") else ""
                found.append((at_rule, prelude, sheet[start:index]))
                start = index + 1
    return found


def selector_features(selector: str) -> list[str]:
    found: list[str] = []
    for part in selector.split(","):
        part = part.strip()
        if "," in selector:
            found.append("css-selector-grouping")
        if "." in part:
            found.append("css-selector-class")
        if "#" in part:
            found.append("css-selector-id")
        if "[" in part:
            found.append("css-selector-attribute")
        if re.search(r"(^|[\s>+~])[a-z]", part):
            found.append("css-selector-type")
        if re.search(r"[\w\])]\s+[\w.#\[]", part):
            found.append("css-selector-descendant")
        for symbol, slug in ((">", "child"), ("+", "adjacent-sibling"), ("~", "general-sibling")):
            if symbol in part:
                found.append(f"css-selector-{slug}")
        found += [f"css-pseudo-class-{name}" for name in re.findall(r"(?<!:):([a-z-]+)", part)]
        found += [f"css-pseudo-element-{name}" for name in re.findall(r"::([a-z-]+)", part)]
    return found
