"""HTML to PDF with WeasyPrint, locked down and reproducible.

The only module that imports WeasyPrint (lazily, so ``--format csv`` and the
statistics never need Pango). Every resource the HTML asks for is served from
memory under the ``asset:`` scheme (CSS and images of the template folders,
the charts, the fonts shipped with matplotlib); any other URL -- ``file:``,
``http:``, ``data:``, a path outside -- stops the rendering with an error, so
a hostile case file cannot make the report read local files or the network
(REPORTING.md §1.5). ``SOURCE_DATE_EPOCH`` is set from the report's own date
while writing, so identical inputs give identical bytes (§1.6).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, ReportError

__all__ = ["html_to_pdf", "report_fonts"]

FONT_FILES = ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
              "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf")


def report_fonts() -> dict[str, tuple[bytes, str]]:
    """The report's fonts as assets (``fonts/NAME``), taken from matplotlib's own data so no system font is needed."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {f"fonts/{name}": ((folder / name).read_bytes(), "font/ttf") for name in FONT_FILES if (folder / name).is_file()}


@contextmanager
def _source_date(date: _dt.date):
    epoch = str(int(_dt.datetime(date.year, date.month, date.day, tzinfo=_dt.timezone.utc).timestamp()))
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = epoch
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def html_to_pdf(html: str, assets: dict[str, tuple[bytes, str]], date: _dt.date, identifier: bytes,
                attachments: list[tuple[str, bytes, str]] = ()) -> tuple[bytes, list[str]]:
    """Render ``html`` to PDF bytes.

    Parameters
    ----------
    html : str
        The report HTML; resources must be referenced as ``asset:NAME``.
    assets : dict
        NAME -> (bytes, MIME type) served to the renderer.
    date : datetime.date
        The report's date; pins every timestamp in the file.
    identifier : bytes
        Stable document identifier.
    attachments : list of (name, bytes, description)
        Files embedded in the PDF with relationship Source (PDF/A-3b), dated ``date``.

    Returns
    -------
    pdf : bytes
    warnings : list of str
        Messages WeasyPrint logged at WARNING level.

    Raises
    ------
    ReportError
        When a resource outside the assets is requested or WeasyPrint logs an error.
    """
    import io

    from weasyprint import HTML, Attachment
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

    class LockedFetcher(URLFetcher):
        """Serves only in-memory assets; anything else is fatal."""

        def __init__(self):
            super().__init__(allowed_protocols={"asset"}, fail_on_errors=True)

        def fetch(self, url, headers=None):
            name = url[len("asset:"):].lstrip("/") if url.startswith("asset:") else None
            if name is not None and name in assets:
                body, mime = assets[name]
                return URLFetcherResponse(url, body, {"Content-Type": mime})
            raise FatalURLFetchingError(f"blocked resource {url[:200]!r}: the report may only use its own templates, "
                                        f"charts and fonts")

    logger = logging.getLogger("weasyprint")
    handler = _Collect()
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        fetcher = LockedFetcher()
        fonts = FontConfiguration()
        stamp = _dt.datetime(date.year, date.month, date.day, tzinfo=_dt.timezone.utc)
        embedded = [Attachment(file_obj=io.BytesIO(data), name=name, description=description, created=stamp,
                               modified=stamp, relationship="Source", url_fetcher=fetcher)
                    for name, data, description in attachments]
        with _source_date(date):
            document = HTML(string=html, base_url="asset:/", url_fetcher=fetcher).render(font_config=fonts)
            pdf = document.write_pdf(pdf_identifier=identifier, attachments=embedded, pdf_variant="pdf/a-3b")
    except FatalURLFetchingError as error:
        cause = error.__cause__ or error
        raise InputError(f"report: expected templates that use only their own files (asset:NAME), found {cause}") from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    errors = [record.getMessage() for record in handler.records if record.levelno >= logging.ERROR]
    if errors:
        raise ReportError([f"report: the PDF renderer reported: {message}" for message in errors])
    return pdf, [record.getMessage() for record in handler.records]
