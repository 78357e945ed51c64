"""The Apps page: the manifest's images and the description's pictures exist,
and no placeholder address is left."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manifest():
    return ast.literal_eval((ROOT / "__manifest__.py").read_text())


def test_listing_images_exist():
    images = manifest()["images"]
    assert images
    for image in images:
        assert (ROOT / image).is_file(), image


def test_description_pictures_exist():
    page = (ROOT / "static" / "description" / "index.html").read_text()
    pictures = re.findall(r'src="([^"]+)"', page)
    assert pictures
    for picture in pictures:
        assert (ROOT / "static" / "description" / picture).is_file(), picture


def test_no_placeholder_home():
    data = manifest()
    assert "example.com" not in data.get("website", "")
    assert data["author"] and "example" not in data["author"]
