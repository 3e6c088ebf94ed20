from __future__ import annotations

import io
import ipaddress
import zipfile

import pytest
from PIL import Image

from automl_common.ssrf import UrlPolicy
from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.support.image_server import image_server, jpeg_bytes, png_bytes
from tests.support.platform import run_platform

ROUTES = {
    "/cat.png": (200, "image/png", png_bytes(64, 48), {}),
    "/lies.png": (200, "image/png", b"<html>not an image</html>", {}),
    "/huge.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 300_000, {}),
    "/to-private": (302, "text/plain", b"", {"Location": "http://10.0.0.1/x.png"}),
}


@pytest.fixture
def loopback_platform(tmp_path, database_url):
    """Image URLs may reach this machine's loopback only (the test image server), nothing else private."""
    policy = UrlPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    overrides = {"image_max_bytes": 200_000}
    with run_platform(
        tmp_path,
        {"dataset": database_url, "gateway": database_url},
        dataset_overrides=overrides,
        dataset_url_policy=policy,
    ) as platform:
        yield platform


async def test_images_are_fetched_checked_stored_once_and_reported_per_row(loopback_platform):
    with image_server(ROUTES) as base:
        csv = (
            "caption,image_url\n"
            f"a cat,{base}/cat.png\n"
            f"same cat,{base}/cat.png\n"
            f"gone,{base}/missing.png\n"
            f"html,{base}/lies.png\n"
            f"huge,{base}/huge.png\n"
            f"redirect,{base}/to-private\n"
            "metadata,http://169.254.169.254/latest/meta-data/x.png\n"
        ).encode()
        async with loopback_platform.org("acme") as client:
            dataset = await upload_and_wait(client, "images.csv", csv)
            assert dataset["status"] == "ready", dataset
            assert {c["name"]: c["type"] for c in dataset["columns"]}["image_url"] == "image"
            assert dataset["images"] == {"pending": 0, "ok": 2, "failed": 5}
            rows = await client.rows(dataset["id"])
            assets = [row["assets"]["image_url"] for row in rows]
            assert [asset["status"] for asset in assets] == [
                "ok",
                "ok",
                "failed",
                "failed",
                "failed",
                "failed",
                "failed",
            ]
            assert assets[0]["sha256"] == assets[1]["sha256"]
            assert (assets[0]["width"], assets[0]["height"]) == (64, 48)
            reasons = [asset["reason"] or "" for asset in assets]
            assert reasons[2].startswith("not_found")
            assert reasons[3].startswith("not_an_image")
            assert reasons[4].startswith("too_large")
            assert reasons[5].startswith("blocked_address")
            assert reasons[6].startswith("blocked_address")
            assert [row["status"] for row in rows] == ["ok", "ok"] + ["image_failed"] * 5
            failed = await client.rows(dataset["id"], status="image_failed")
            assert len(failed) == 5

            store = loopback_platform.apps["dataset"].state.store
            images = [info.key async for info in store.list(f"orgs/{client.org_id}/images/")]
            assert images == [f"orgs/{client.org_id}/images/{assets[0]['sha256']}"]

            thumbnail = await client.get(f"/v1/datasets/{dataset['id']}/rows/{rows[0]['id']}/thumbnail")
            assert thumbnail.status_code == 200
            assert thumbnail.headers["content-type"] in ("image/png", "image/jpeg")
            with Image.open(io.BytesIO(thumbnail.content)) as image:
                assert max(image.size) <= 256
            no_image = await client.get(f"/v1/datasets/{dataset['id']}/rows/{rows[2]['id']}/thumbnail")
            assert no_image.status_code == 404

            async with loopback_platform.org("other") as other:
                stolen = await other.get(f"/v1/datasets/{dataset['id']}/rows/{rows[0]['id']}/thumbnail")
                assert stolen.status_code == 404


async def test_failed_images_can_be_retried(loopback_platform):
    routes = dict(ROUTES)
    with image_server(routes) as base:
        async with loopback_platform.org("acme") as client:
            dataset = await upload_and_wait(client, "img.csv", f"caption,image\nlater,{base}/later.png\n".encode())
            assert dataset["images"]["failed"] == 1
            routes["/later.png"] = (200, "image/png", png_bytes(), {})  # the picture appears on the server
            retried = await client.post(f"/v1/datasets/{dataset['id']}/images/retry")
            assert retried.status_code == 200
            final = await client.wait_dataset(dataset["id"])
            assert final["images"] == {"pending": 0, "ok": 1, "failed": 0}
            assert (await client.rows(dataset["id"]))[0]["status"] == "ok"


async def test_private_image_urls_are_refused_without_the_demo_setting(platform):
    with image_server(ROUTES) as base:
        async with platform.org("acme") as client:
            dataset = await upload_and_wait(client, "img.csv", f"caption,image\ncat,{base}/cat.png\n".encode())
            asset = (await client.rows(dataset["id"]))[0]["assets"]["image"]
            assert asset["status"] == "failed"
            assert asset["reason"].startswith("blocked_address")


async def test_demo_setting_reaches_a_local_server(tmp_path, database_url):
    overrides = {"allow_private_image_urls": True}
    with (
        image_server(ROUTES) as base,
        run_platform(
            tmp_path, {"dataset": database_url, "gateway": database_url}, dataset_overrides=overrides
        ) as platform,
    ):
        async with platform.org("acme") as client:
            dataset = await upload_and_wait(client, "img.csv", f"caption,image\ncat,{base}/cat.png\n".encode())
            assert (await client.rows(dataset["id"]))[0]["assets"]["image"]["status"] == "ok"


async def test_mapping_a_column_to_image_fetches_it(loopback_platform):
    with image_server(ROUTES) as base:
        async with loopback_platform.org("acme") as client:
            # An unusual column name and URLs without an image extension: inferred as text at first.
            csv = "caption,link\n" + "".join(f"c{index},{base}/img/{index}\n" for index in range(4))
            dataset = await upload_and_wait(client, "links.csv", csv.encode())
            assert {c["name"]: c["type"] for c in dataset["columns"]}["link"] == "text"
            mapped = await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"link": "image"}})
            assert mapped.json()["status"] == "processing"
            final = await client.wait_dataset(dataset["id"])
            assert final["images"] == {"pending": 0, "ok": 4, "failed": 0}


async def test_zip_upload_with_images_by_relative_path(platform):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "shop/data.csv",
            "image,label\nimages/a.jpg,shoe\nimages/b.jpg,hat\nimages/missing.jpg,hat\nimages/c.txt,shoe\n",
        )
        archive.writestr("shop/images/a.jpg", jpeg_bytes(seed=1))
        archive.writestr("shop/images/b.jpg", jpeg_bytes(seed=2))
        archive.writestr("shop/images/c.txt", b"plain text")
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "shop.zip", buffer.getvalue())
        assert dataset["status"] == "ready", dataset["error"]
        assert dataset["source"]["format"] == "zip"
        assert {c["name"]: c["type"] for c in dataset["columns"]} == {"image": "image", "label": "label"}
        assets = [row["assets"]["image"] for row in await client.rows(dataset["id"])]
        assert [asset["status"] for asset in assets] == ["ok", "ok", "failed", "failed"]
        assert assets[2]["reason"].startswith("not_found")
        assert assets[3]["reason"].startswith("not_an_image")
        assert assets[0]["sha256"] != assets[1]["sha256"]


async def test_zip_without_exactly_one_table_fails(platform):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "two.zip", buffer.getvalue())
        assert dataset["status"] == "failed"
        assert "exactly one CSV" in dataset["error"]
