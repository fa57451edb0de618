"""One error hierarchy: what failed, for which input, and why. Only cli.py maps these to exit codes."""

from __future__ import annotations


class ExportError(Exception):
    """Base of every error interview-export raises on purpose (never a traceback for users)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


class InputError(ExportError):
    """The input file is missing, unreadable, undecodable or not Markdown we can use."""


class ImageError(ExportError):
    """An image could not be fetched, decoded or accepted (a placeholder is used unless --strict)."""

    def __init__(self, src: str, reason: str, *, path: str | None = None, line: int | None = None):
        self.src = src
        self.reason = reason
        super().__init__(f"image {src}: {reason}", path=path, line=line)


class ImageRefused(ImageError):
    """Image bytes we will not use (not an image, corrupt, truncated, a bomb): only the reason, as
    images.py knows no source; media.py turns it into a placeholder and a warning naming the image."""

    def __init__(self, reason: str):
        self.src = ""
        self.reason = reason
        ExportError.__init__(self, reason)


class FontError(ExportError):
    """A font file is missing or unusable."""


class RenderError(ExportError):
    """A backend failed to produce the book."""


class OutputError(ExportError):
    """The output file could not be written (permissions, disk full, …)."""


class UsageError(ExportError):
    """Options that do not fit together or a value we cannot parse."""


def interrupt_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (KeyboardInterrupt) behind `exc`, if one is among its causes: Python 3.11 turns
    an exception raised while a class is made (a descriptor's ``__set_name__``: a lazy import, a
    class made at run time) into a RuntimeError, so a Ctrl-C landing there must not read as a failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
