"""Jinja rendering of the report HTML.

Templates come from the case's ``report.template_dir`` first (a firm's own
templates) and the built-in ``templates/`` second; the built-in ones stay
reachable as ``default:NAME``. Autoescape is on and undefined variables are
errors (``StrictUndefined``), so a case field can never inject markup and a
template typo cannot silently print nothing.
"""

from __future__ import annotations

import math
from dataclasses import fields
from importlib import resources
from pathlib import Path

import jinja2

from .context import NOT_PROVIDED, ReportContext

__all__ = ["builtin_template_dir", "make_environment", "render_html", "template_assets"]

ASSET_SUFFIXES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
                  ".jpeg": "image/jpeg", ".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff",
                  ".woff2": "font/woff2"}


def builtin_template_dir() -> Path:
    """The templates shipped with the package (or the checkout's ``templates/`` in a development install)."""
    packaged = resources.files("expert") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment: user templates first, built-in second (also as ``default:``)."""
    builtin = jinja2.FileSystemLoader(str(builtin_template_dir()))
    loaders = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.PrefixLoader({"default": builtin}))
    loaders.append(builtin)
    environment = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(num=format_number, ci=format_interval, provided=provided, pct=format_percent,
                               count=format_count)
    return environment


def template_assets(template_dir: Path | None = None) -> dict[str, tuple[bytes, str]]:
    """Static files (CSS, images, fonts) of the template folders, user files overriding built-in ones."""
    assets: dict[str, tuple[bytes, str]] = {}
    for folder in [builtin_template_dir()] + ([template_dir] if template_dir is not None else []):
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and path.suffix.lower() in ASSET_SUFFIXES:
                name = path.relative_to(folder).as_posix()
                assets[name] = (path.read_bytes(), ASSET_SUFFIXES[path.suffix.lower()])
    return assets


def render_html(context: ReportContext, template_dir: Path | None = None, template: str = "report.html") -> str:
    """Render the report HTML from a :class:`ReportContext`."""
    environment = make_environment(template_dir)
    values = {f.name: getattr(context, f.name) for f in fields(context)}
    return environment.get_template(template).render(**values)


def format_number(value, decimals: int = 3) -> str:
    """A number with fixed decimals and a true minus sign; 'n/a' for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:,.{decimals}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")
    return text.replace("-", "\u2212")


def format_interval(row: dict, decimals: int = 3) -> str:
    """``[low, high]`` of a row holding ci_low and ci_high."""
    return f"[{format_number(row['ci_low'], decimals)}, {format_number(row['ci_high'], decimals)}]"


def format_percent(value, decimals: int = 1) -> str:
    """A fraction as a percentage; 'n/a' for missing or undefined values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value * 100:.{decimals}f}%"


def format_count(value) -> str:
    return f"{int(value):,}"


def provided(value) -> str:
    """The value, or 'Not provided.' when the case did not give it."""
    if value is None or value == "" or value == []:
        return NOT_PROVIDED
    return value
