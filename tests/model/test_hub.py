"""Hub loading through the real huggingface_hub, offline, from a hub cache this test lays out.

huggingface_hub reads HF_HOME and HF_HUB_OFFLINE once, when it is imported, so the loads run in a child
Python started with those variables set (as a user's shell would), not by patching the library. The
child writes what it loaded (or the error it got) to files; the tests here compare them with what was
written into the cache.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import walrus
from walrus.errors import ArgumentError, ConfigError
from walrus.model import hub
from walrus.model.checkpoint import save_checkpoint

from model_helpers import tiny

import huggingface_hub  # noqa: E402,F401  (the dev extra installs it: a missing install fails, not skips)

REPO = hub.HUB_REPO
PINNED = hub.HUB_REVISION
NEWER = "0123456789abcdef0123456789abcdef01234567"  # what refs/main points at in the test cache


def official_yaml(config: walrus.WalrusConfig) -> str:
    """An extended_config.yaml in the official layout (the parts the loader reads, plus some it skips)."""
    kernels = [list(config.base_kernels)] * 3
    tree = {
        "trainer": {"_target_": "walrus.trainer.Trainer", "prediction_type": "delta"},
        "model": {
            "_target_": "walrus.models.IsotropicModel",
            "encoder": {"_partial_": True, "base_kernel_size2d": kernels[:2], "base_kernel_size3d": kernels,
                        "groups": 12},
            "processor": {"space_mixing": {"_partial_": True, "num_heads": config.n_heads},
                          "time_mixing": {"_partial_": True, "num_heads": config.n_heads, "bias_type": "rel"}},
            "hidden_dim": config.hidden_dim, "projection_dim": 48, "intermediate_dim": config.intermediate_dim,
            "processor_blocks": config.n_blocks, "drop_path": config.drop_path, "groups": config.groups,
            "max_d": 3, "causal_in_time": True, "jitter_patches": config.jitter_patches,
            "gradient_checkpointing_freq": config.gradient_checkpointing_freq,
        },
        "data": {"field_index_map_override": {name: i for i, name in enumerate(config.field_names)}},
    }
    return yaml.safe_dump(tree, sort_keys=False)


def put_snapshot(hf_home: Path, repo_id: str, revision: str, files: dict[str, bytes]) -> None:
    """The huggingface_hub cache layout: content in blobs/, snapshots/<rev>/<name> linking to it."""
    root = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snap = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snap / name).symlink_to(os.path.relpath(blob, snap))


def set_ref(hf_home: Path, repo_id: str, ref: str, revision: str) -> None:
    refs = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}" / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / ref).write_text(revision)  # the hub writes the bare hash, no newline


def official_bytes(model, path: Path) -> bytes:
    torch.save({"app": {"model": model.state_dict(), "optimizer": {}}}, path)
    return path.read_bytes()


CHILD = r"""
import json, os, sys
from pathlib import Path
from safetensors.torch import save_file
import walrus
from walrus.errors import WalrusError

out = Path(sys.argv[1])
cases = {
    "preset_weights_hub": lambda: walrus.get_model("walrus-tiny", weights="hub"),
    "repo_default": lambda: walrus.Surrogate.from_pretrained("polymathic-ai/walrus").model,
    "repo_main": lambda: walrus.Surrogate.from_pretrained("polymathic-ai/walrus", revision="main").model,
    "repo_env": lambda: walrus.get_model("polymathic-ai/walrus"),
    "repo_ours": lambda: walrus.get_model("polymathic-ai/walrus", filename="model.safetensors"),
    "local_wins": lambda: walrus.get_model("polymathic-ai/walrus"),
    "missing_repo": lambda: walrus.Surrogate.from_pretrained("someone/not-cached"),
    "missing_file": lambda: walrus.get_model("walrus-tiny", weights="hub", filename="walrus.safetensors"),
}
report = {}
for name, load in cases.items():
    if name == "repo_env":
        os.environ["WALRUS_HUB_REVISION"] = sys.argv[2]
    if name == "local_wins":
        os.chdir(sys.argv[3])
    try:
        model = load()
    except Exception as exc:
        report[name] = {"error": type(exc).__name__, "walrus_error": isinstance(exc, WalrusError),
                        "message": str(exc)}
    else:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"{name}.safetensors"))
        report[name] = {"config": model.config.to_dict()}
    finally:
        os.environ.pop("WALRUS_HUB_REVISION", None)
(out / "report.json").write_text(json.dumps(report))
"""


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory):
    """Lay out a hub cache, run every hub load once in an offline child process, return what it saw."""
    tmp = tmp_path_factory.mktemp("hub")
    hf_home, out, local = tmp / "hf_home", tmp / "out", tmp / "cwd"
    out.mkdir()
    pinned, newer, ours, on_disk = tiny(seed=1), tiny(seed=2), tiny(seed=3), tiny(seed=4)
    config = official_yaml(pinned.config).encode()
    save_checkpoint(ours, tmp / "ours.safetensors", preset="walrus-tiny")
    put_snapshot(hf_home, REPO, PINNED, {"walrus.pt": official_bytes(pinned, tmp / "a.pt"),
                                         "extended_config.yaml": config,
                                         "model.safetensors": (tmp / "ours.safetensors").read_bytes()})
    put_snapshot(hf_home, REPO, NEWER, {"walrus.pt": official_bytes(newer, tmp / "b.pt"),
                                        "extended_config.yaml": config})
    set_ref(hf_home, REPO, "main", NEWER)
    (local / "polymathic-ai").mkdir(parents=True)
    save_checkpoint(on_disk, local / "polymathic-ai" / "walrus", preset="walrus-tiny")  # a local file, no suffix

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "WALRUS_HUB_REVISION", "HF_ENDPOINT")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    done = subprocess.run([sys.executable, "-c", CHILD, str(out), NEWER, str(local)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    written = {"pinned": pinned, "newer": newer, "ours": ours, "on_disk": on_disk}
    return report, out, hf_home, written


def assert_same_weights(path: Path, model) -> None:
    loaded = load_file(str(path))
    expected = model.state_dict()
    assert sorted(loaded) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("case, source", [
    ("preset_weights_hub", "pinned"),   # get_model(preset, weights="hub"): the pinned commit, not main
    ("repo_default", "pinned"),         # Surrogate.from_pretrained("polymathic-ai/walrus")
    ("repo_main", "newer"),             # revision="main" resolves through refs/main
    ("repo_env", "newer"),              # WALRUS_HUB_REVISION overrides the pinned commit
    ("repo_ours", "ours"),              # filename= picks one of our self-describing checkpoints
    ("local_wins", "on_disk"),          # an existing local path named like the repo is loaded instead
])
def test_hub_loads_return_the_weights_written_into_the_cache(hub_run, case, source):
    report, out, _, written = hub_run
    assert "error" not in report[case], report[case]
    assert_same_weights(out / f"{case}.safetensors", written[source])


def test_the_repo_config_is_read_from_extended_config_yaml(hub_run):
    report, *_ = hub_run
    assert report["repo_default"]["config"] == walrus.get_preset("walrus-tiny").config.to_dict()


def test_offline_without_the_file_cached_says_what_to_download_and_where(hub_run):
    report, _, hf_home, _ = hub_run
    missing = report["missing_repo"]
    assert missing["error"] == "CheckpointError" and missing["walrus_error"]
    text = missing["message"]
    assert "someone/not-cached" in text and "walrus.pt" in text and PINNED in text
    assert str(hf_home / "hub") in text and "HF_HUB_OFFLINE" in text and "local checkpoint" in text
    missing = report["missing_file"]  # the repo is cached, this file of it is not
    assert missing["error"] == "CheckpointError"
    assert all(s in missing["message"] for s in (REPO, "walrus.safetensors", PINNED, str(hf_home / "hub")))


def test_revision_is_pinned_to_a_commit_and_the_environment_overrides_it(monkeypatch):
    assert len(PINNED) == 40 and int(PINNED, 16) >= 0  # a full commit hash, not a branch such as "main"
    monkeypatch.delenv(hub.REVISION_ENV, raising=False)
    assert hub.default_revision() == PINNED
    monkeypatch.setenv(hub.REVISION_ENV, "v1.0")
    assert hub.default_revision() == "v1.0"


@pytest.mark.parametrize("name, expected", [
    ("polymathic-ai/walrus", True), ("someone/my_model-2.1", True), ("walrus-tiny", False),
    ("runs/best.pt", False), ("./runs/best", False), ("/abs/path", False), ("a/b/c", False),
    ("~/walrus", False), ("a/..", False), ("", False),
])
def test_what_counts_as_a_repo_id(name, expected):
    assert hub.looks_like_repo_id(name) is expected


def test_revision_and_filename_are_for_hub_loads_only(tmp_path):
    with pytest.raises(ArgumentError, match="hub loads only"):
        walrus.get_model("walrus-tiny", revision="main")
    path = save_checkpoint(tiny(), tmp_path / "m.safetensors")
    with pytest.raises(ArgumentError, match="hub loads only"):
        walrus.Surrogate.from_pretrained(str(path), filename="walrus.pt")
    with pytest.raises(ArgumentError, match="its own config"):
        walrus.get_model("polymathic-ai/walrus", n_blocks=3)


def test_a_broken_extended_config_names_the_entry(tmp_path):
    good = yaml.safe_load(official_yaml(walrus.get_preset("walrus-tiny").config))
    path = tmp_path / "extended_config.yaml"
    path.write_text(yaml.safe_dump(good))
    assert hub.config_from_extended_yaml(path) == walrus.get_preset("walrus-tiny").config
    del good["model"]["processor_blocks"]
    path.write_text(yaml.safe_dump(good))
    with pytest.raises(ConfigError, match="processor_blocks"):
        hub.config_from_extended_yaml(path)
    good["model"]["processor_blocks"] = 2
    good["data"]["field_index_map_override"]["pressure"] = 99
    path.write_text(yaml.safe_dump(good))
    with pytest.raises(ConfigError, match="field_index_map_override"):
        hub.config_from_extended_yaml(path)

