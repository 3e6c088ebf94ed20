"""modelkit's fit: checkpoints within an epoch (every N steps), and a run interrupted mid-epoch (SIGTERM)
that resumes from its checkpoint ending with the same weights as a run that was never interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from automl_proto.models import TrainingOptions
from modelkit.training.loop import TrainingInterrupted
from modelkit.training.trainer import fit
from tests.support.loop import Hooks, data, model
from tests.support.tiny_models import build_tiny_bert

OPTIONS = TrainingOptions(max_epochs=2, batch_size=8, learning_rate=1e-3, seed=3)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


def test_checkpoints_every_n_steps_within_an_epoch(base: Path) -> None:
    train = data(base)
    hooks = Hooks(every_steps=5)
    fit(model(base), "full", OPTIONS, train, data(base, 16), hooks)
    places = [(c["epoch"], c["batch"], c["step"]) for c in hooks.checkpoints]
    # 12 steps an epoch: every 5 steps within it, and each epoch's end.
    assert places == [(0, 5, 5), (0, 10, 10), (1, 0, 12), (1, 3, 15), (1, 8, 20), (2, 0, 24)]


def test_an_interrupted_run_resumes_mid_epoch_to_the_same_weights(base: Path) -> None:
    train, validation = data(base), data(base, 16)
    whole = model(base)
    fit(whole, "full", OPTIONS, train, validation, Hooks())

    first = Hooks(interrupt_after=16)  # the 4th batch of the second epoch done
    broken = model(base)
    with pytest.raises(TrainingInterrupted):
        fit(broken, "full", OPTIONS, train, validation, first)
    saved = first.checkpoints[-1]
    assert (saved["epoch"], saved["batch"], saved["step"]) == (1, 4, 16)  # mid-epoch, where it stopped

    resumed = model(base)  # a new process: fresh weights, then the checkpoint
    fit(resumed, "full", OPTIONS, train, validation, Hooks(), resume=saved)
    for (name, expected), (_, got) in zip(whole.named_parameters(), resumed.named_parameters(), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6, msg=name)


def _two_ranks(rank: int, store: str, base: Path, out: Path) -> None:
    """One of two gloo ranks on this host: trains until interrupted after step 16; rank 0 keeps the checkpoint."""
    import os

    import torch.distributed as dist

    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        hooks = Hooks(interrupt_after=16)
        with pytest.raises(TrainingInterrupted):
            fit(model(base), "full", OPTIONS, data(base), data(base, 16), hooks)
        if rank == 0:
            torch.save(hooks.checkpoints[-1], out)
        else:
            assert hooks.checkpoints == []  # only rank 0 writes
    finally:
        dist.destroy_process_group()


def test_a_checkpoint_of_two_ranks_resumes_in_one(base: Path, tmp_path: Path) -> None:
    from torch.multiprocessing.spawn import spawn

    out = tmp_path / "checkpoint.pt"
    spawn(_two_ranks, args=(str(tmp_path / "store"), base, out), nprocs=2, join=True)
    saved = torch.load(out, weights_only=True)
    assert (saved["epoch"], saved["batch"], saved["step"]) == (1, 4, 16)

    train, validation = data(base), data(base, 16)
    whole = model(base)
    alone = fit(whole, "full", OPTIONS, train, validation, Hooks())
    resumed = fit(model(base), "full", OPTIONS, train, validation, Hooks(), resume=saved)
    assert [record["step"] for record in resumed.history] == [12, 24]  # epoch 1 from the two ranks, 2 from one
    assert resumed.total_steps == alone.total_steps
    # The same global batches in the same order: two ranks and one land close (dropout masks differ).
    assert abs(resumed.history[-1]["val_loss"] - alone.history[-1]["val_loss"]) < 0.05
