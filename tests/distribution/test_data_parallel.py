"""Data-parallel fit on 2 and 4 MPI ranks equals one process at the same global batch.

Each job (one mpiexec launch) checks several things, because every rank pays numba's import; the
single-process reference is computed here, in pytest's own process, by the same `scenarios` code.
"""
import pickle

import numpy as np
import pytest

from tests.distribution import mpirun, scenarios

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def references():
    return {opt: scenarios.reference(opt) for opt in ("sgd", "adam")}


@pytest.fixture(scope="module", params=[2, 4], ids=["2ranks", "4ranks"])
def job(request, tmp_path_factory):
    """Every rank's results and the job's output for `fit_everything` on 2 or 4 ranks."""
    out = tmp_path_factory.mktemp(f"fit{request.param}")
    output = mpirun.run(request.param, "fit_everything", out)
    ranks = [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(request.param)]
    return {"n": request.param, "out": out, "output": output, "ranks": ranks}


def max_diff(a, b):
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_every_rank_ends_with_the_single_process_weights(job, references, opt):
    for rank in job["ranks"]:
        assert len(rank[opt]["weights"]) == len(references[opt]["weights"])
        assert max_diff(rank[opt]["weights"], references[opt]["weights"]) < 1e-5


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_history_evaluate_and_predict_equal_the_single_process_ones(job, references, opt):
    ref = references[opt]
    for rank in job["ranks"]:
        assert list(rank[opt]["history"]) == list(ref["history"])
        for key, values in ref["history"].items():
            np.testing.assert_allclose(rank[opt]["history"][key], values, rtol=1e-5, atol=1e-6)
        assert list(rank[opt]["evaluate"]) == list(ref["evaluate"])
        np.testing.assert_allclose(list(rank[opt]["evaluate"].values()), list(ref["evaluate"].values()), rtol=1e-5)
        np.testing.assert_allclose(rank[opt]["predict"], ref["predict"], rtol=1e-5, atol=1e-6)


def test_a_sequence_source_is_sharded_like_arrays_and_a_model_without_input_is_built_then_synced(job):
    reference = scenarios.train_on_sequence(scenarios.SEED)
    for rank in job["ranks"]:
        assert max_diff(rank["sequence"], reference) < 1e-5


def test_ranks_reading_their_own_uneven_shards_average_by_batch_share(job):
    # auto_shard_dataset=False: rank r reads part r of each global batch itself; the last batch of 6
    # splits unevenly on 4 ranks (1, 2, 1, 2 samples), so the shares are not 1/N
    reference = scenarios.train_on_sequence(scenarios.SEED)
    for rank in job["ranks"]:
        assert max_diff(rank["own_shards"], reference) < 1e-5


def test_each_rank_gets_its_share_of_the_cores(job):
    import os
    expected = str(max(1, os.cpu_count() // job["n"]))
    for rank in job["ranks"]:
        assert rank["threads"] == {"NUMBA_NUM_THREADS": expected, "OPENBLAS_NUM_THREADS": expected}


def test_negative_controls_without_allreduce_or_broadcast_diverge(job, references):
    ref = references["sgd"]["weights"]
    for rank in job["ranks"]:
        assert max_diff(rank["no_allreduce"], ref) > 1e-2
        assert max_diff(rank["no_broadcast"], ref) > 1e-2
        assert max_diff(rank["unsynchronized_bn"], ref) > 1e-3   # BN on each rank's slice alone differs


def test_files_and_progress_come_from_rank_zero_only(job, references):
    out = job["out"]
    for opt in ("sgd", "adam"):
        checkpoints = sorted(p.name for p in out.glob(f"r0/{opt}-*.weights.h5"))
        assert checkpoints == [f"{opt}-{e}.weights.h5" for e in (1, 2, 3)]
        lines = (out / "r0" / f"{opt}.csv").read_text().splitlines()
        header = lines[0].split(",")
        assert len(lines) == 1 + scenarios.EPOCHS
        csv_loss = [float(line.split(",")[header.index("loss")]) for line in lines[1:]]
        np.testing.assert_allclose(csv_loss, references[opt]["history"]["loss"], rtol=1e-5)
        assert list((out / "r0" / f"tb_{opt}" / "train").glob("events.out.tfevents.*"))
    for r in range(1, job["n"]):
        assert list((out / f"r{r}").iterdir()) == []
    # two fits with verbose=2 print "Epoch 1/3" once each: only rank 0 has a progress bar
    assert job["output"].count("Epoch 1/3") == 2


def test_bad_inputs_raise_the_same_clear_error_on_every_rank(job):
    n = job["n"]
    messages = [rank["errors"] for rank in job["ranks"]]
    assert all(m == messages[0] for m in messages)
    assert f"batch_size={n + 1} (the global batch) must be divisible by the number of ranks, {n}" in \
        messages[0]["batch_not_divisible"]
    assert f"the dataset has {n - 1} samples, fewer than the {n} ranks" in messages[0]["dataset_too_small"]
    assert "rank 1's model differs from rank 0's: weight 0 is (6, 9) float32, expected (6, 8)" in \
        messages[0]["mismatched_models"]


def test_allreduce_distributed_optimizer_and_broadcast_variables(job):
    n = job["n"]
    ranks = np.arange(n, dtype=np.float32)
    for rank in job["ranks"]:
        got = rank["custom"]
        np.testing.assert_array_equal(got["allreduce"]["sum"], [ranks.sum(), -ranks.sum()])
        np.testing.assert_array_equal(got["allreduce"]["in_place"], [ranks.sum(), -ranks.sum()])
        np.testing.assert_allclose(got["allreduce"]["average"], [ranks.mean(), -ranks.mean()])
        np.testing.assert_array_equal(got["allreduce"]["max"], [n - 1, 0])
        np.testing.assert_array_equal(got["allreduce"]["min"], [0, -(n - 1)])
        # gradients r + 1 averaged: (n + 1) / 2; one SGD step at lr 0.1 from zero
        np.testing.assert_allclose(got["optimizer_step"], np.full(3, -0.1 * (n + 1) / 2), rtol=1e-6)
        np.testing.assert_array_equal(got["broadcast"], [0.0, 0.0])
        assert got["iterations"] == 1


def test_a_killed_job_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    proc = mpirun.start(2, "resume", first, KILL_AFTER_EPOCH=2)
    try:
        assert mpirun.wait_for(first / "killed_here", proc, timeout=120), proc.communicate()[0]
    finally:
        mpirun.kill(proc)
        proc.communicate()
    assert (tmp_path / "backup" / "backup.npz").exists()
    second = tmp_path / "second"
    second.mkdir()
    mpirun.run(2, "resume", second)
    resumed = [pickle.loads((second / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    reference = scenarios.reference("adam", epochs=6)
    for rank in resumed:
        assert list(rank["history"]["loss"]) != []
        assert len(rank["history"]["loss"]) == 3   # epochs 4..6 only: it resumed after epoch 3
        assert max_diff(rank["weights"], reference["weights"]) < 1e-5
        np.testing.assert_allclose(rank["history"]["loss"], reference["history"]["loss"][3:], rtol=1e-5)


@pytest.mark.parametrize("via_mpi4py", [True, False], ids=["python-m-mpi4py", "plain-python"])
def test_a_rank_raising_ends_the_job_with_an_error_within_seconds(tmp_path, via_mpi4py):
    import time
    began = time.monotonic()
    code, output = mpirun.finish(mpirun.start(2, "crash", tmp_path, via_mpi4py=via_mpi4py), timeout=60)
    assert code != 0
    assert "rank 1 fails on purpose" in output
    assert time.monotonic() - began < 30
