"""Members' uploads: the one place that decides whether a file is accepted, and which bytes of it are kept.

Accepted: PDF, JPEG, PNG and HEIC (phones), recognised by their content, never by their name or the
browser's content type. PDFs are kept as sent once checked (no scripts, actions, attachments or
encryption; they must parse); images are decoded and encoded again with Pillow, which drops their
metadata (EXIF, GPS, comments, ICC) and anything appended to them, and HEIC becomes JPEG. A file that
is valid as two types at once (a polyglot) is refused. Every refusal is a French ``Message`` that
names the file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, ImageCms, ImageOps
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..i18n import Message
from .queries import digests_sent_since

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
_HEIC = "image/heic"  # accepted on the way in, stored as JPEG

#: Largest image accepted, in pixels (48 Mpx phone photos pass). Pillow warns above this number and
#: refuses above twice it; the warning is turned into a refusal below. Set for the whole process on
#: purpose: no image of the product needs more.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
#: Longest display name kept, extension included.
MAX_NAME_LENGTH = 120
#: Longer names are refused (no file system keeps more); names up to this are cut to ``MAX_NAME_LENGTH``.
MAX_SENT_NAME_LENGTH = 255
#: JPEG quality of re-encoded photos: documents stay legible, files stay small.
JPEG_QUALITY = 85

_EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
_KNOWN_EXTENSIONS = {"pdf", "jpg", "jpeg", "jpe", "jfif", "png", "heic", "heif", "hif"}
# HEVC-coded HEIF brands (iPhones write "heic" with "mif1"); "mif1" alone may announce AVIF, which is not read here.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_PROGRAM_MAGIC = (
    b"\x7fELF",  # Linux and Unix programs
    b"MZ",  # Windows programs and libraries (PE)
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",  # macOS (Mach-O)
    b"\xca\xfe\xba\xbe",  # macOS universal programs, Java classes
    b"#!",  # scripts
    b"\x00asm",  # WebAssembly
)
_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<")
_SCRIPT_MARKUP = re.compile(rb"<(?:\?php|script|html|!doctype\s+html|svg|iframe)[\s>/]", re.IGNORECASE)
_BATCH_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*@echo\s+off", re.IGNORECASE)
_ARCHIVE_MAGIC = (
    b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08",  # ZIP, hence Word/Excel (docx, xlsx), jar, apk
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # older Office documents (doc, xls), msi
    b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
    b"{\\rtf",
)
# Markers of HTML or script hidden in a document, at least 6 bytes long so that compressed image
# data practically never matches them by chance.
_HIDDEN_SCRIPT = re.compile(
    rb"<script[\s>/]|<html[\s>]|<iframe[\s>/]|<\?php\s|<!doctype\s+html|<object[\s>/]|javascript:", re.IGNORECASE)

# PDF names that make a document act on its own: scripts, launched programs, attached files, forms
# sent elsewhere, XFA forms, rich media. Checked on every parsed object and on the raw bytes.
_ACTIVE_KEYS = {"/JS", "/JavaScript", "/AA", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/EF",
                "/RichMedia", "/RichMediaContent", "/RichMediaSettings", "/XFA"}
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/Rendition",
                   "/RichMediaExecute", "/Movie", "/Sound"}
_ACTIVE_SUBTYPES = {"/RichMedia", "/FileAttachment", "/Movie", "/Sound", "/Screen", "/3D"}
_ACTIVE_NAMES_RAW = {name[1:].encode() for name in _ACTIVE_KEYS} | {b"SubmitForm", b"ImportData", b"FileAttachment"}
_RAW_NAME = re.compile(rb"/([^\s/<>\[\](){}%]{2,40})")
# Stream bodies are left out of the raw scan: compressed bytes would match two-letter names by chance.
_STREAM_BODY = re.compile(rb">>\s*stream\r?\n.*?endstream", re.DOTALL)
#: Most bytes the non-image streams of one PDF may expand to; more is a decompression bomb.
MAX_PDF_EXPANDED_BYTES = 100 * 1024 * 1024
#: Most objects in one PDF: pypdf reads about 20,000 a second, and a 500-page statement has a few thousand.
MAX_PDF_OBJECTS = 20_000
_PDF_TRAILING_BYTES = b" \t\r\n\x00\x0c"


@dataclass(frozen=True)
class UploadLimits:
    """How much a member may send at once."""

    max_file_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 20 * 1024 * 1024
    max_files: int = 10


@dataclass(frozen=True)
class CheckedFile:
    """An accepted file: what may be stored."""

    filename: str  # safe display name: no path, no control characters, <= 120 characters, extension of the content
    content_type: str  # application/pdf, image/jpeg or image/png
    data: bytes  # bytes to store (re-encoded for images; HEIC converted to JPEG)
    sha256: str  # of ``data``


class UploadRejected(ValidationFailed):
    """One or more files are refused; ``messages`` names each problem (``message`` is the first one).

    A ``ValidationFailed`` on the field ``files``, so a view that puts errors next to their fields shows
    every problem there.
    """

    def __init__(self, messages: Message | list[Message], field: str = "files"):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__({field: list(self.messages)})
        self.message = self.messages[0]
        self.field = field


def check_upload(filename: str, data: bytes, *, limits: UploadLimits = UploadLimits()) -> CheckedFile:
    """Accept one file sent by a member, or raise ``UploadRejected`` saying why, naming the file."""
    name = _shown_name(filename)
    _refuse_unsafe_name(filename, name)
    if not data:
        raise UploadRejected(Message("« %(name)s » est vide (0 octet) : choisissez le bon fichier.", name=name))
    if len(data) > limits.max_file_bytes:
        raise UploadRejected(Message("« %(name)s » dépasse la taille maximale de %(max)s Mo par fichier.",
                                     name=name, max=_megabytes(limits.max_file_bytes)))
    kind = _content_type(data, name)
    _refuse_polyglot(data, kind, name)
    if kind == PDF:
        _check_pdf(data, name)
        stored, content_type = data, PDF
    else:
        stored, content_type = _reencode_image(data, kind, name)
    return CheckedFile(filename=safe_filename(filename, _EXTENSIONS[content_type]), content_type=content_type,
                       data=stored, sha256=hashlib.sha256(stored).hexdigest())


def check_uploads(files: list[tuple[str, bytes]], *, limits: UploadLimits = UploadLimits(),
                  required: bool = True) -> list[CheckedFile]:
    """All or nothing: raises UploadRejected (with every problem found) if any file is refused.

    ``files`` are (name, bytes) pairs as the browser sent them; a pair with no name and no bytes is a
    file field left empty and is ignored. The counts and sizes are checked before any file is opened.
    """
    files = [(name, data) for name, data in files if name or data]
    if not files:
        if required:
            raise UploadRejected(Message("Ajoutez au moins un fichier."))
        return []
    problems: list[Message] = []
    if len(files) > limits.max_files:
        problems.append(Message(
            "Vous pouvez envoyer %(max)d fichiers au plus à la fois ; vous en avez choisi %(count)d.",
            max=limits.max_files, count=len(files)))
    total = sum(len(data) for _name, data in files)
    if total > limits.max_total_bytes:
        problems.append(Message("Vos fichiers font %(total)s Mo en tout ; le maximum est de %(max)s Mo par envoi.",
                                total=_megabytes(total), max=_megabytes(limits.max_total_bytes)))
    if problems:
        raise UploadRejected(problems)
    checked: list[CheckedFile] = []
    first_seen: dict[bytes, str] = {}
    for filename, data in files:
        digest = hashlib.sha256(data).digest()
        if data and digest in first_seen:
            problems.append(Message("« %(name)s » est le même fichier que « %(other)s » : ajoutez-le une seule fois.",
                                    name=_shown_name(filename), other=first_seen[digest]))
            continue
        first_seen[digest] = _shown_name(filename)
        try:
            checked.append(check_upload(filename, data, limits=limits))
        except UploadRejected as exc:
            problems.extend(exc.messages)
    if problems:
        raise UploadRejected(problems)
    return checked


def _refuse_unsafe_name(filename: str, name: str) -> None:
    """A name with folders, control characters or over 255 characters is not one a phone or a computer gives
    a file: the member renames it (browsers send the bare name; such names come from tampered requests)."""
    if re.search(r"[/\\]", filename):
        raise UploadRejected(Message("Le nom de « %(name)s » contient une barre oblique (/ ou \\) : renommez le "
                                     "fichier puis ajoutez-le à nouveau.", name=name))
    if any(unicodedata.category(ch) == "Cc" for ch in filename):
        raise UploadRejected(Message("Le nom de « %(name)s » contient des caractères invisibles : renommez le "
                                     "fichier puis ajoutez-le à nouveau.", name=name))
    if len(filename) > MAX_SENT_NAME_LENGTH:
        raise UploadRejected(Message("Le nom de « %(name)s… » est trop long (%(count)d caractères, %(max)d au "
                                     "plus) : renommez le fichier puis ajoutez-le à nouveau.",
                                     name=name[:60], count=len(filename), max=MAX_SENT_NAME_LENGTH))


def recent_duplicates(session: Session, member_id: int, checked: list[CheckedFile], *, days: int = 30,
                      now: datetime) -> list[CheckedFile]:
    """The files this member already sent within ``days`` (same SHA-256), to point them out."""
    sent = digests_sent_since(session, member_id, (c.sha256 for c in checked), now - timedelta(days=days))
    return [c for c in checked if c.sha256 in sent]


def safe_filename(filename: str, extension: str) -> str:
    """A display name: the base name of ``filename``, no controls, at most 120 characters, ending in ``extension``."""
    stem = _shown_name(filename, limit=None)
    base, _dot, suffix = stem.rpartition(".")
    if base and _is_extension(suffix):  # "scan.pdf.exe" -> "scan.pdf" -> "scan"
        stem = base
        base, _dot, suffix = stem.rpartition(".")
        if base and suffix.lower() in _KNOWN_EXTENSIONS:
            stem = base
    stem = stem.rstrip(" .")
    if not stem:
        stem = "document"
    elif stem.upper() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    return f"{stem[:MAX_NAME_LENGTH - len(extension) - 1].rstrip(' .')}.{extension}"


def _is_extension(suffix: str) -> bool:
    return 1 <= len(suffix) <= 5 and suffix.isalnum() and not suffix.isdigit()


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')


def _shown_name(filename: str, *, limit: int | None = MAX_NAME_LENGTH) -> str:
    """The file's base name as a member recognises it: no folders, no control or invisible characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith(("C", "Zl", "Zp")))
    name = re.split(r"[/\\]", name)[-1]
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if limit is not None:
        name = name[:limit]
    return name or "document"


def _megabytes(size: int) -> str:
    """``size`` in MB, French style: 10, 20 or 10,5."""
    value = round(size / (1024 * 1024), 1)
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")


def _content_type(data: bytes, name: str) -> str:
    """The type of ``data`` read from its first bytes; anything but PDF, JPEG, PNG and HEIC is refused."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[4:8] == b"ftyp" and _heif_brands(data) & _HEIF_BRANDS:
        return _HEIC
    head = data[:1024]
    if (data.startswith(_PROGRAM_MAGIC) or _BATCH_START.match(head)
            or (_MARKUP_START.match(head) and _SCRIPT_MARKUP.search(head))):
        raise UploadRejected(Message(
            "« %(name)s » est un programme ou un script, pas un document : il n'est pas accepté.", name=name))
    if data.startswith(_ARCHIVE_MAGIC):
        raise UploadRejected(Message(
            "« %(name)s » est une archive ou un document de bureautique (Word, Excel…) : "
            "envoyez-le en PDF ou en photo.", name=name))
    if b"%PDF-" in data[:1024]:
        raise _polyglot(name)
    raise UploadRejected(Message(
        "« %(name)s » n'est pas un fichier PDF, JPEG, PNG ou HEIC : ce format n'est pas accepté.", name=name))


def _heif_brands(data: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO media file's ``ftyp`` box."""
    size = int.from_bytes(data[:4], "big")
    box = data[8:min(max(size, 16), 256)]
    return {box[i:i + 4] for i in range(0, len(box) - 3, 4)} - {box[4:8]}  # skip the minor version


def _polyglot(name: str) -> UploadRejected:
    return UploadRejected(Message(
        "« %(name)s » contient, en plus du document, un autre fichier ou du code caché : il n'est pas accepté.",
        name=name))


def _refuse_polyglot(data: bytes, kind: str, name: str) -> None:
    """Refuse a file that another program would read as something else (ZIP, PDF, HTML or script)."""
    if _is_zip(data) or _HIDDEN_SCRIPT.search(data):
        raise _polyglot(name)
    if kind == PDF:
        end = data.rfind(b"%%EOF")
        if end < 0:
            raise _damaged_pdf(name)
        if data[end + 5:].strip(_PDF_TRAILING_BYTES):
            raise _polyglot(name)
    elif b"%PDF-" in data:
        raise _polyglot(name)


def _is_zip(data: bytes) -> bool:
    """Whether a ZIP reader would open ``data`` (ZIP readers look for their directory from the end)."""
    if b"PK\x05\x06" not in data[-(65536 + 22):]:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False
    return True


def _damaged_pdf(name: str) -> UploadRejected:
    return UploadRejected(Message(
        "« %(name)s » est un PDF endommagé ou incomplet que nous ne pouvons pas lire : enregistrez-le de nouveau "
        "et réessayez.", name=name))


def _check_pdf(data: bytes, name: str) -> None:
    """Refuse a PDF that is encrypted, does not parse, expands enormously or could act on its own."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    encrypted = UploadRejected(Message(
        "« %(name)s » est un PDF protégé par un mot de passe ou chiffré : nous ne pouvons pas le vérifier. "
        "Envoyez-le sans protection.", name=name))
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise encrypted
        finding = _pdf_finding(reader)
        if finding is None and _has_active_names(data):
            finding = "active"
        pages = len(reader.pages)
    except UploadRejected:
        raise
    except FileNotDecryptedError:
        raise encrypted from None
    except Exception:  # pypdf raises many kinds of errors on broken input; every one means "cannot read"
        raise _damaged_pdf(name) from None
    if finding == "active":
        raise UploadRejected(Message(
            "« %(name)s » contient des éléments actifs (script, action automatique ou fichier joint) : il n'est "
            "pas accepté. Enregistrez-le de nouveau en PDF simple, par exemple avec « Imprimer en PDF ».",
            name=name))
    if finding == "bomb":
        raise UploadRejected(Message(
            "« %(name)s » est un PDF anormalement volumineux ou complexe une fois ouvert : il n'est pas accepté.",
            name=name))
    if pages == 0:
        raise _damaged_pdf(name)


def _pdf_finding(reader) -> str | None:
    """"active" if an object of the PDF makes it act on its own, "bomb" if it is too big to check, else None.

    Every object is visited, object streams included (pypdf decodes them); the non-image streams are
    decoded too, within ``MAX_PDF_EXPANDED_BYTES`` in all. More than ``MAX_PDF_OBJECTS`` objects is a bomb.
    """
    from pypdf.errors import LimitReachedError
    from pypdf.generic import ArrayObject, DictionaryObject, EncodedStreamObject, IndirectObject

    if sum(len(numbers) for numbers in reader.xref.values()) + len(reader.xref_objStm) > MAX_PDF_OBJECTS:
        return "bomb"
    stack: list = [reader.trailer]
    for generation, numbers in reader.xref.items():
        stack.extend(IndirectObject(number, generation, reader) for number in numbers)
    stack.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
    seen: set[tuple[int, int]] = set()
    expanded = 0
    while stack:  # iterative, so deeply nested arrays cannot exhaust the recursion limit
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            if (obj.idnum, obj.generation) in seen:
                continue
            seen.add((obj.idnum, obj.generation))
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            items = list(dict.items(obj))  # raw values: references are followed once, through ``seen``
            keys = {str(key) for key, _value in items}
            if (keys & _ACTIVE_KEYS or _name(obj, "/S") in _ACTIVE_ACTIONS or _name(obj, "/Subtype") in _ACTIVE_SUBTYPES
                    or ("/OpenAction" in keys and not _opens_a_page(dict.get(obj, "/OpenAction")))):
                return "active"
            if isinstance(obj, EncodedStreamObject) and _name(obj, "/Subtype") != "/Image":
                try:
                    expanded += len(obj.get_data())
                except LimitReachedError:
                    return "bomb"
                except Exception:  # a filter pypdf cannot decode: nothing in it for a viewer to run
                    pass
                if expanded > MAX_PDF_EXPANDED_BYTES:
                    return "bomb"
            stack.extend(value for _key, value in items)
        elif isinstance(obj, ArrayObject):
            stack.extend(list.__iter__(obj))
    return None


def _name(dictionary, key: str) -> str:
    """The value of ``key`` in a PDF dictionary, reference followed, as text ("" when absent)."""
    value = dict.get(dictionary, key)
    if value is None:
        return ""
    return str(value.get_object() if hasattr(value, "get_object") else value)


def _opens_a_page(action) -> bool:
    """Whether an /OpenAction only shows a page (a destination or a GoTo action), as many generators write."""
    from pypdf.generic import ArrayObject, DictionaryObject

    action = action.get_object() if action is not None else None
    if isinstance(action, ArrayObject):
        return True
    return isinstance(action, DictionaryObject) and _name(action, "/S") == "/GoTo"


def _has_active_names(data: bytes) -> bool:
    """Whether the raw bytes name an active feature where pypdf saw none (a viewer repairing the file could)."""
    for match in _RAW_NAME.finditer(_STREAM_BODY.sub(b" ", data)):
        raw = match.group(1)
        if b"#" in raw:
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
        if raw in _ACTIVE_NAMES_RAW:
            return True
    return False


def _reencode_image(data: bytes, kind: str, name: str) -> tuple[bytes, str]:
    """Decode the image and encode it again (first frame, upright, sRGB, no metadata); HEIC becomes JPEG."""
    if kind == _HEIC:
        _read_heif()
    formats = {JPEG: ["JPEG"], PNG: ["PNG"], _HEIC: ["HEIF"]}[kind]
    target = PNG if kind == PNG else JPEG
    too_large = UploadRejected(Message(
        "« %(name)s » est une image trop grande : %(max)d millions de pixels au plus.",
        name=name, max=MAX_IMAGE_PIXELS // 1_000_000))
    try:
        # Pillow's other warnings (odd EXIF...) change nothing here. Requests are served by processes
        # (gunicorn sync workers), so changing the warning filters for this block disturbs no other request.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise too_large
                image.load()
                _turn_upright(image)
                clean = _plain(_to_srgb(image), target)
                clean.info = {}  # comments, EXIF, XMP, ICC, text chunks: nothing of the original is written back
                out = io.BytesIO()
                if target == JPEG:
                    clean.save(out, format="JPEG", quality=JPEG_QUALITY)
                else:
                    clean.save(out, format="PNG")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise too_large from None
    except UploadRejected:
        raise
    except Exception:  # Pillow raises many kinds of errors on broken images; every one means "cannot read"
        raise UploadRejected(Message(
            "« %(name)s » est une image endommagée ou incomplète que nous ne pouvons pas lire.", name=name)) from None
    return out.getvalue(), target


@functools.cache
def _read_heif() -> None:
    """Teach Pillow to read HEIC (pillow-heif applies the camera's rotation and resets the EXIF orientation)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _turn_upright(image: Image.Image) -> None:
    """Turn the decoded image as the camera said, in place (the orientation tag goes with the rest of EXIF)."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # a broken EXIF block only loses the rotation, not the photo
        pass


def _to_srgb(image: Image.Image) -> Image.Image:
    """Colours converted to sRGB when the image carries its own ICC profile, so dropping it changes nothing visible."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        return ImageCms.profileToProfile(
            image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except Exception:  # an unusable profile: keep the pixels as they are
        return image


def _plain(image: Image.Image, target: str) -> Image.Image:
    """The image in a mode the target format stores directly (transparency kept in PNG, flattened in JPEG)."""
    if target == JPEG:
        if image.mode in ("L", "RGB"):
            return image
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, "white")
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("L" if image.mode in ("1", "I", "I;16", "F") else "RGB")
    if image.mode in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
        return image
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert("RGBA")
