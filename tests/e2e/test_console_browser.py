"""The console in a real browser (Playwright driving Debian's headless Chromium) against the full_platform platform:
sign in, upload a CSV and an image zip, confirm columns, edit a label, snapshot, train a tiny model and watch
it, move the threshold slider and see the figures change, save the operating point, try the playground,
deploy, predict, create and revoke a key. No page may log a console error; a screenshot of each page is saved
(``build/console-screenshots``, or ``AUTOML_SCREENSHOT_DIR``)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.services.conftest import tiny_bert
from tests.support.images import labelled_images
from tests.support.llm import llm_request, llm_snapshot, yes_no_records
from tests.support.orgs import Org, new_org
from tests.support.platform import OrgClient, Platform
from tests.support.tiny_models import build_tiny_llama
from tests.support.training import register_tiny, wait_model
from tests.support.whole import full_platform, module_postgres_url

__all__ = ["full_platform", "module_postgres_url", "tiny_bert"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("AUTOML_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "build" / "console-screenshots")
)
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by `make test`")


@pytest.fixture(scope="module")
def org(full_platform: Platform, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Org:
    # Before the browser: Playwright's sync API runs an event loop of its own in this thread.
    return new_org(full_platform, "browser", tiny_bert, tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
async def llm_deployment(full_platform: Platform, org: Org, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny llama's LoRA model that answers yes or no, deployed (made through the API: the browser chats)."""
    async with OrgClient(full_platform.gateway_url, org.org_id, org.key) as client:
        llama = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")
        base = await register_tiny(client, full_platform, llama, name="tiny-llama", model_type="llm")
        snapshot = await llm_snapshot(
            client, yes_no_records(160, seed=1), prompt_column="prompt", completion_column="completion"
        )
        request = llm_request(
            base["id"], snapshot["id"], "lora", max_epochs=4, learning_rate=2e-2, lora={"dropout": 0.0}
        )
        model = await wait_model(client, (await client.post("/v1/models", json=request)).json()["id"])
        assert model["status"] == "succeeded", model
        created = await client.post("/v1/deployments", json={"model_id": model["id"], "name": "yes-no"})
        deployment = await client.wait_while(f"/v1/deployments/{created.json()['id']}", "deploying", 180)
        assert deployment["status"] == "ready", deployment
        return deployment


@pytest.fixture(scope="module")
def browser(org: Org, llm_deployment: dict[str, Any]) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim())
  .map((e) => e.outerHTML.slice(0, 160))"""


class Console:
    """One browser tab on the console, recording console errors and saving a screenshot of each page."""

    def __init__(self, page: Page, base: str, prefix: str = "journey") -> None:
        self.page = page
        self.prefix = prefix
        self.base = base
        self.errors: list[str] = []
        self.unlabelled: list[str] = []
        self.shots: list[Path] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        """A confirmation (a delete, a revoke): recorded, and accepted."""
        self.dialogs.append(dialog.message)
        dialog.accept()

    def refused(self) -> None:
        """A refusal the test asked for: the browser logs the 422 it loaded; nothing else may have gone wrong."""
        self.errors = [error for error in self.errors if "status of 422" not in error]

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> None:
        """A screenshot, and the page's controls checked for an accessible name (a label, aria-label, text)."""
        self.unlabelled += [f"{self.page.url}: {html}" for html in self.page.evaluate(UNLABELLED)]
        target = SCREENSHOTS / f"{self.prefix}-{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        self.shots.append(target)


def open_new(page: Page, name: str) -> None:
    """The create form behind its "New ..." button (the list comes first)."""
    form = page.locator("details.new")
    if form.get_attribute("open") is None:
        page.get_by_text(name, exact=True).click()
    expect(form).to_have_attribute("open", "")


def image_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        rows = ["image,label"]
        for position, (colour, data) in enumerate(labelled_images(12, seed=4)):
            archive.writestr(f"shop/images/{position}.png", data)
            rows.append(f"images/{position}.png,{colour}")
        rows.append("images/missing.png,red")
        archive.writestr("shop/data.csv", "\n".join(rows) + "\n")
    return buffer.getvalue()


def test_the_whole_journey_in_a_browser(full_platform: Platform, org: Org, browser: Browser, tmp_path: Path) -> None:
    console = Console(browser.new_page(viewport={"width": 1280, "height": 900}), full_platform.gateway_url)
    page = console.go("/datasets")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdatasets$"))
    console.shot("sign-in")
    page.get_by_label("API key").fill(org.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    assert org.key not in page.url

    # A file the API refuses: its own reason shows, not the status's name.
    open_new(page, "New dataset")
    duplicated = tmp_path / "twice.csv"
    duplicated.write_text("a,a\n1,2\n")
    page.set_input_files("#upload-file", str(duplicated))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_contain_text("column name 'a' appears twice")
    console.refused()

    # A CSV, with its progress bar, to the mapping.
    page.set_input_files("#upload-file", str(org.csv))
    page.get_by_label("Name").fill("reviews")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("button", name="Confirm the mapping")).to_be_visible(timeout=30_000)
    assert page.locator("#upload-progress").count() == 0  # now on the dataset's page
    console.shot("dataset-mapping")
    page.get_by_label("Type of topic").select_option("ignore")
    page.get_by_label("Type of tags").select_option("ignore")
    page.get_by_label("Type of sentiment").select_option("label")
    page.get_by_role("button", name="Confirm the mapping").click()
    expect(page.get_by_role("heading", name=re.compile("Columns \\(confirmed\\)"))).to_be_visible()
    dataset_id = page.url.rstrip("/").split("/")[-1]

    # Edit a label inline, then page to the last row.
    first = page.get_by_label("sentiment of row 0")
    old_label = first.input_value()
    new_label = "negative" if old_label == "positive" else "positive"
    with page.expect_response(re.compile(r"/rows/\d+$")):
        first.fill(new_label)
        first.dispatch_event("change")
    with httpx.Client(base_url=org.url, headers={"Authorization": f"Bearer {org.key}"}) as api:
        row = api.get(f"/v1/datasets/{dataset_id}/rows", params={"limit": 1}).json()["items"][0]
        assert row["values"]["sentiment"] == new_label
        api.patch(f"/v1/datasets/{dataset_id}/rows/{row['id']}", json={"values": {"sentiment": old_label}})
    page.get_by_role("link", name="Last").click()
    expect(page.get_by_text("rows 70 to 119 of 120")).to_be_visible()
    console.shot("dataset-rows")

    # An image zip: thumbnails, with each image's status and reason.
    zip_path = tmp_path / "shop.zip"
    zip_path.write_bytes(image_zip())
    console.go("/datasets")
    expect(page.get_by_role("link", name="reviews")).to_be_visible()  # the list first; the form behind a button
    expect(page.get_by_label("Name")).to_be_hidden()
    open_new(page, "New dataset")
    page.set_input_files("#upload-file", str(zip_path))
    page.get_by_label("Name").fill("shop")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("button", name=re.compile("mapping"))).to_be_visible(timeout=30_000)
    expect(page.locator("img.thumb").first).to_be_visible()
    expect(page.get_by_text(re.compile("failed: not_found"))).to_be_visible()
    console.shot("image-dataset")

    # A snapshot of the reviews.
    page = console.go(f"/snapshots?dataset={dataset_id}")
    page.get_by_label("Input column").select_option("text")
    page.get_by_role("button", name="Create the snapshot").click()
    expect(page.get_by_role("heading", name="Classes per head")).to_be_visible(timeout=30_000)
    console.shot("snapshot")
    snapshot_id = page.url.rstrip("/").split("/")[-1]

    # Train, and watch it. The form starts right: a base model of the snapshot's type, the type's method; a
    # refusal shows the reason beside its field and keeps what was typed.
    page = console.go(f"/models?snapshot={snapshot_id}")
    base = page.get_by_label(re.compile("^Base model"))
    assert base.locator("option:checked").get_attribute("data-type") == "text_classification"
    assert page.locator("#m-base option[data-type=image_classification]:not([hidden])").count() == 0
    page.get_by_label(re.compile("^Name")).fill("sentiment")
    base.select_option(org.base_model_id)
    page.get_by_text("Training options").click()
    page.get_by_label(re.compile("^max_epochs")).fill("-3")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator(".field-error")).to_contain_text("greater than or equal to 1")
    assert page.get_by_label(re.compile("^Name")).input_value() == "sentiment"
    console.shot("model-form-refused")
    console.refused()
    page.get_by_label(re.compile("^max_epochs")).fill("6")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    console.shot("model-training")
    expect(page.get_by_role("heading", name=re.compile("^Overall, against"))).to_be_visible(timeout=180_000)
    model_id = page.url.rstrip("/").split("/")[-1]
    expect(page.locator("#loss-chart canvas")).to_have_count(1)

    # The threshold slider moves every figure and the confusion matrix (recomputed by the API at the cut-off).
    head = page.locator("section.head").first
    precision = head.locator(".fig-precision")
    specificity = head.locator(".fig-specificity")
    head.locator(".curve-class").select_option("positive")
    slider = head.locator(".threshold")
    slider.fill("0.1")
    expect(head.locator(".figures[data-shown='positive@0.10']")).to_have_count(1)
    low = (precision.inner_text(), specificity.inner_text(), head.locator("table.confusion").inner_text())
    slider.fill("0.9")
    expect(head.locator(".figures[data-shown='positive@0.90']")).to_have_count(1)
    high = (precision.inner_text(), specificity.inner_text(), head.locator("table.confusion").inner_text())
    assert low[:2] != high[:2] and float(high[1]) >= float(low[1])
    assert low[2] != high[2]  # the confusion matrix follows the slider
    expect(head.get_by_role("heading", name="Confusion matrix at 0.90")).to_be_visible()
    expect(head.locator(".threshold-value")).to_have_text("0.90")
    head.get_by_role("button", name="By class").click()
    expect(head.locator("table.classes")).to_be_visible()
    expect(head.locator("table.confusion td.diagonal").first).to_be_visible()
    # Error analysis: the hardest test examples per class, with the text and its score.
    expect(head.get_by_role("heading", name="Hardest test examples")).to_be_visible()
    assert head.locator("table.hardest-class").count() == 2
    expect(page.locator("#progress .duration")).to_have_text(re.compile(r"^\d+m\d\ds$"))
    console.shot("model-metrics")

    # The playground.
    page.get_by_label("Text", exact=True).fill("great lovely good")
    page.get_by_role("button", name="Try it").click()
    expect(page.locator("#remaining")).to_contain_text("free queries left", timeout=120_000)  # a cold start

    # Deploy, then save the threshold as the deployment's operating point.
    page = console.go(f"/deployments?model={model_id}")
    page.get_by_label("Name").fill("sentiment")
    page.get_by_label("Min replicas").fill("5")
    page.get_by_label("Max replicas").fill("2")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("alert")).to_be_visible()  # refused, with the API's reason; the form kept
    assert page.get_by_label("Name").input_value() == "sentiment"
    console.refused()
    page.get_by_label("Min replicas").fill("1")
    page.get_by_label("Max replicas").fill("1")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("heading", name=re.compile("Deployment sentiment ready"))).to_be_visible(timeout=180_000)
    deployment_id = page.url.rstrip("/").split("/")[-1]
    console.shot("deployment")
    # The page's requests to copy run as shown, with the key from the environment.
    assert page.locator("#endpoint").inner_text().endswith(f"/v1/deployments/{deployment_id}/predict")
    environment = dict(os.environ, AUTOML_API_KEY=org.key, AUTOML_CONFIG="/nonexistent/automl.toml")
    curl = subprocess.run(
        ["bash", "-c", page.locator("#snippet-curl").inner_text()], env=environment, capture_output=True, text=True
    )
    assert curl.returncode == 0 and '"sentiment"' in curl.stdout, (curl.stdout, curl.stderr)
    python = subprocess.run(
        [sys.executable, "-c", page.locator("#snippet-python").inner_text()],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert python.returncode == 0 and "sentiment" in python.stdout, python.stderr
    page = console.go(f"/models/{model_id}")
    head = page.locator("section.head").first
    head.locator(".curve-class").select_option("positive")
    head.locator(".threshold").fill("0.95")
    head.get_by_role("button", name=re.compile("operating point")).click()
    expect(page.locator("#operating-point")).to_contain_text("0.95")
    expect(page.locator(".flash")).to_contain_text("operating point is saved")

    # Predict from the page: the operating point decides `predicted`.
    page.get_by_label(re.compile("^Texts")).fill("great lovely good\nawful bad")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#predictions table")).to_be_visible()
    console.shot("deployment-predict")
    with httpx.Client(base_url=org.url, headers={"Authorization": f"Bearer {org.key}"}) as api:
        deployment = api.get(f"/v1/deployments/{deployment_id}").json()
        assert deployment["operating_point"]["thresholds"] == {"sentiment": {"positive": 0.95}}
        outputs = api.post(f"/v1/deployments/{deployment_id}/predict", json={"inputs": ["great lovely good"]}).json()
        answer = outputs["outputs"][0]["heads"]["sentiment"]
        expected = ["positive"] if answer["scores"]["positive"] >= 0.95 else ["negative"]
        assert answer["predicted"] == expected

    # A key: its secret once, then revoked.
    page = console.go("/keys")
    page.get_by_label("Name").fill("app")
    page.get_by_label(re.compile("^Scope")).select_option(deployment_id)
    page.get_by_role("button", name="Create").click()
    secret = page.locator("#new-key").inner_text()
    assert secret.startswith("aml_")
    console.shot("keys")
    page = console.go("/keys")  # shown once: not on the next view
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke key app").click()
    expect(page.get_by_text("revoked")).to_be_visible()
    assert console.dialogs == ["Revoke key app? Whatever uses it stops working."]
    page = console.go("/usage")
    expect(page.locator("#usage-chart canvas")).to_have_count(1)
    console.shot("usage")

    assert console.errors == [], console.errors
    assert console.unlabelled == [], console.unlabelled
    assert len(console.shots) >= 10 and all(shot.stat().st_size > 10_000 for shot in console.shots)


def test_an_llm_deployment_chats_with_streamed_replies(
    full_platform: Platform, org: Org, llm_deployment: dict[str, Any], browser: Browser
) -> None:
    console = Console(browser.new_page(viewport={"width": 1280, "height": 900}), full_platform.gateway_url, "llm")
    page = console.go("/login")
    page.get_by_label("API key").fill(org.key)
    page.get_by_role("button", name="Sign in").click()
    page = console.go(f"/deployments/{llm_deployment['id']}")
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    with page.expect_response(re.compile(r"/chat$")) as streamed:
        page.get_by_label("Message").fill("is it lovely")
        page.get_by_role("button", name="Send").click()
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    expect(page.locator("#chat-log li.chat-assistant")).to_have_text("yes", timeout=60_000)
    page.get_by_label("Message").fill("is it awful")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-log li.chat-assistant").nth(1)).to_have_text("no", timeout=60_000)
    console.shot("chat")

    # The model's playground: a chat too, streamed, each reply one free query.
    page = console.go(f"/models/{llm_deployment['model_id']}")
    expect(page.get_by_role("heading", name="Playground")).to_be_visible()
    with page.expect_response(re.compile(r"/chat$")) as streamed:
        page.get_by_label("Message").fill("is it good")
        page.get_by_role("button", name="Send").click()
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    expect(page.locator("#chat-log li.chat-assistant")).to_have_text("yes", timeout=60_000)
    expect(page.locator("#chat-remaining")).to_have_text(re.compile(r"^\d+ free queries left$"))
    console.shot("playground-chat")
    assert console.errors == [], console.errors
    assert console.unlabelled == [], console.unlabelled
