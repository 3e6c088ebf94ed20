"""trainer-svc with the Kubernetes backend, through the public API, against a Kubernetes API server on
loopback (kmock): a model becomes a Job; while its pod cannot be scheduled the model stays queued and says
why; options reach the Job; an out-of-memory pod fails the model with that reason and the pod's last log
lines; cancelling deletes the Job; options the platform cannot run are refused before any Job exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automl_proto.training import JobSpec
from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.detection import coco_zip
from tests.support.kube import ApiServer, Controller, api_server, kubeconfig
from tests.support.platform import OrgClient, Platform
from tests.support.segmentation import scenes, segmentation_zip
from tests.support.tiny_models import build_tiny_image_model
from tests.support.training import events, model_request, register_tiny, review_rows, text_snapshot
from tests.support.waiting import until

__all__ = ["api_server"]
NAMESPACE = "automl-training"


@pytest.fixture
def trainer_overrides(api_server: ApiServer, tmp_path: Path) -> dict[str, Any]:
    return {
        "job_backend": "kubernetes",
        "k8s_kubeconfig": str(kubeconfig(str(api_server.url), tmp_path / "kubeconfig", NAMESPACE)),
        "k8s_api_backoff_s": 0.01,
        "max_world_size": 16,
    }


async def test_a_model_is_a_job_on_the_cluster(
    org: OrgClient, tiny_base: dict[str, Any], api_server: ApiServer
) -> None:
    cluster = Controller(api_server, NAMESPACE)
    snapshot = await text_snapshot(org, review_rows(40, seed=3), [{"column": "sentiment"}])
    request = model_request(tiny_base["id"], snapshot["id"], "full", gpus=4, nodes=2, deadline_s=7200)
    created = await org.post("/v1/models", json=request)
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]

    async def jobs() -> list[str]:
        return cluster.jobs()

    (name,) = await until(jobs, "no Job was created")
    job = cluster.job(name)
    assert job["metadata"]["labels"]["automl.dev/model"] == model_id
    assert job["metadata"]["labels"]["automl.dev/org"] == org.org_id
    assert job["spec"]["completions"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"

    message = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    cluster.pod(
        name, conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]
    )

    expected = f"waiting for 4 nvidia.com/gpu: {message}"

    async def waiting() -> dict[str, Any] | None:  # before the pod was there: "waiting for the Job controller"
        body: dict[str, Any] = (await org.get(f"/v1/models/{model_id}")).json()
        return body if body["progress"]["waiting"] == expected else None

    model = await until(waiting, "the model did not say it waits for GPUs")
    assert model["status"] == "queued"
    kinds = [(e["kind"], e["message"]) for e in await events(org, model_id)]
    assert ("waiting", expected) in kinds

    pod = cluster.pod(name, phase="Failed", **cluster.terminated(137, "OOMKilled"))
    api_server[f"get /api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"] << b"epoch 1 step 40\nallocating 30 GiB\n"
    cluster.set_job_condition(name, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")

    async def failed() -> dict[str, Any] | None:
        body: dict[str, Any] = (await org.get(f"/v1/models/{model_id}")).json()
        return body if body["status"] == "failed" else None

    model = await until(failed, "the model was not failed")
    assert model["error"].startswith("the worker ran out of memory (OOMKilled, limit 32Gi)")
    assert "allocating 30 GiB" in model["error"]
    assert model["attempts"] == 1  # out of memory is not retried: it would run out again


async def test_cancel_deletes_the_job(org: OrgClient, tiny_base: dict[str, Any], api_server: ApiServer) -> None:
    cluster = Controller(api_server, NAMESPACE)
    snapshot = await text_snapshot(org, review_rows(40, seed=4), [{"column": "sentiment"}])
    created = await org.post("/v1/models", json=model_request(tiny_base["id"], snapshot["id"], "full"))
    model_id = created.json()["id"]

    async def jobs() -> list[str]:
        return cluster.jobs()

    (name,) = await until(jobs, "no Job was created")
    cluster.pod(name, phase="Running")
    assert (await org.post(f"/v1/models/{model_id}/cancel")).status_code == 200

    async def deleted() -> bool:
        return cluster.jobs() == []

    await until(deleted, "the Job was not deleted")
    deletes = [r for r in api_server if r.method.value == "DELETE" and name in str(r.url)]
    assert deletes[0].params["propagationPolicy"] == "Foreground"


async def test_runs_the_platform_cannot_make_are_refused(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(40, seed=5), [{"column": "sentiment"}])
    cases = [
        ({"gpus": 8, "nodes": 4}, "full", "options.gpus: gpus x nodes is 32; this platform runs at most 16 ranks"),
        ({"gpus": 2}, "last_layer", "options.gpus: last_layer trains the heads on features computed once"),
        ({"deadline_s": 30 * 24 * 3600}, "full", "options.deadline_s: at most 604800 s here"),
    ]
    for options, method, expected in cases:
        response = await org.post("/v1/models", json=model_request(tiny_base["id"], snapshot["id"], method, **options))
        assert response.status_code == 422, response.text
        assert expected in response.json()["detail"], response.json()


async def test_detectors_and_segmenters_are_jobs_as_classifiers_are(
    org: OrgClient, trainer_platform: Platform, api_server: ApiServer, tmp_path: Path
) -> None:
    """The Job runs the same worker (its driver from the type's family): the spec in its Secret names the type,
    its images are the snapshot's, and its GPUs are asked for as for any model."""
    cluster = Controller(api_server, NAMESPACE)
    folder = build_tiny_image_model(tmp_path / "tiny")
    uploads = {
        "object_detection": (coco_zip(scenes(12)), {"boxes_column": "boxes"}),
        "semantic_segmentation": (segmentation_zip(scenes(12)), {"mask_column": "mask"}),
    }
    for model_type, (content, columns) in uploads.items():
        base = await register_tiny(org, trainer_platform, folder, name=f"tiny-{model_type}", model_type=model_type)
        dataset = await upload_and_wait(org, f"{model_type}.zip", content)
        inferred = {column["name"]: column["inferred_type"] for column in dataset["columns"]}
        await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": inferred})
        await org.wait_dataset(dataset["id"])
        snap = await snapshot(org, dataset["id"], type=model_type, input_column="image", heads=[], **columns)
        assert snap["status"] == "ready", snap
        created = await org.post("/v1/models", json=model_request(base["id"], snap["id"], "full", gpus=1))
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]

        async def job_of(model_id: str = model_id) -> str | None:
            named = [
                name
                for name in cluster.jobs()
                if cluster.job(name)["metadata"]["labels"]["automl.dev/model"] == model_id
            ]
            return named[0] if named else None

        name = await until(job_of, f"no Job was created for the {model_type} model")
        container = cluster.job(name)["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"

        async def spec_secret(name: str = name) -> dict[str, Any] | None:  # put once the Job exists (its owner)
            try:
                return cluster.object("v1/secrets", f"{name}-spec")
            except KeyError:
                return None

        secret = await until(spec_secret, f"no spec Secret for the {model_type} model's Job")
        spec = JobSpec.model_validate_json(secret["stringData"]["spec.json"])
        assert spec.model_type == model_type and spec.train.id == snap["id"]
        assert (await org.post(f"/v1/models/{model_id}/cancel")).status_code == 200

        async def deleted(name: str = name) -> bool:  # nothing of the run left in flight when the test ends
            return name not in cluster.jobs()

        await until(deleted, "the Job was not deleted")
