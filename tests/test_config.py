"""The experiment config: defaults, YAML files, --set overrides and their errors."""

import copy
import math
import re

import pytest

from drn.config import DEFAULTS, ConfigError, dump, load_config, model_config, parse_yaml, resolve_auto, upgrade_config
from drn.model.config import DRNConfig
from tests.helpers.paths import CONFIGS


@pytest.mark.parametrize("name", ["charades_sta", "activitynet", "tacos"])
def test_shipped_configs_load_and_build_a_model_config(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg["data"]["format"] == name
    mc = model_config(cfg, vocab_size=100)
    assert mc.num_clips == cfg["data"]["num_clips"]
    assert mc.nms_threshold == cfg["eval"]["nms_threshold"]
    assert mc.max_detections == cfg["eval"]["top_k"]
    # The last level's range is open-ended; ranges scale by T / 32.
    assert math.isinf(mc.scaled_regression_ranges()[2][1])
    assert mc.scaled_regression_ranges()[0][1] == pytest.approx(6.0 * mc.num_clips / 32)


def test_required_keys_exist():
    for dotted in ["data.format", "data.train", "data.val", "data.test", "data.durations", "data.features",
                   "data.num_clips", "model.feature_dim", "train.batch_size", "train.epochs", "train.lr",
                   "train.device", "eval.nms_threshold"]:
        section, key = dotted.split(".")
        assert key in DEFAULTS[section], dotted


@pytest.mark.parametrize(
    "text, expected",
    [("1e-3", 0.001), ("[1e-3, 2]", [0.001, 2]), (".inf", math.inf), ("null", None), ("abc", "abc"), ("[a, b]", ["a", "b"])],
)
def test_yaml_values_parse_like_yaml_1_2(text, expected):
    assert parse_yaml(text) == expected


def test_overrides_apply_in_order_and_parse_values():
    cfg = load_config(CONFIGS / "charades_sta.yaml", ["train.lr=[1e-3, 1e-5, 1e-6]", "data.val=null",
                                                      "model.feature_dim=1024", "train.batch_size=8"])
    assert cfg["train"]["lr"] == [1e-3, 1e-5, 1e-6]
    assert cfg["data"]["val"] is None
    assert cfg["model"]["feature_dim"] == 1024
    assert cfg["train"]["batch_size"] == 8


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.bogus=1", "unknown key 'train.bogus'; valid keys here: batch_size, compile"),
        ("bogus.x=1", "unknown key 'bogus'"),
        ("train.epochs=[1, 2]", "train.epochs"),
        ("train.lr=[1, -1, 0]", "train.lr"),
        ("data.format=youcook", "data.format"),
        ("data.num_clips=30", "data.num_clips"),
        ("eval.nms_threshold=1.5", "eval.nms_threshold"),
        ("eval.protocol=best", "config key 'eval.protocol' must be one of .*official.*fixed.*, got 'best'"),
        ("model.whole_video_fallback=2", "model.whole_video_fallback' must be true or false, got 2"),
        ("train.device=tpu", "train.device"),
        ("train=3", "'train' is a section"),
        ("no_equals_sign", "key=value"),
        ("model.level_channels=[1, 2]", "level_channels"),
        ("model.head_norm=batch", "DRNConfig.head_norm must be one of .*published.*per_level.*group.*, got 'batch'"),
        ("model.saliency_head=maybe", "config key 'model.saliency_head' must be true, false or auto, got 'maybe'"),
        ("train.crop_probability=2", "config key 'train.crop_probability' must be a number in [0, 1], got 2"),
        ("train.crop_min_fraction=0", "config key 'train.crop_min_fraction' must be a number in (0, 1], got 0"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, [override])


def test_unknown_key_in_a_yaml_file_is_an_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epoch: [1, 1, 1]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'train.epoch'"):
        load_config(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_dump_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "activitynet.yaml")
    path = tmp_path / "saved.yaml"
    path.write_text(dump(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.features=[]"], "config key 'data.features' must be a folder or HDF5 file path, a non-empty list of "
                               "folders (one per feature type), or null, got []"),
        (["data.features=[a, 3]"], "config key 'data.features' must be a folder or HDF5 file path, a non-empty list"),
        (["eval.saliency_clip_seconds=0"], "config key 'eval.saliency_clip_seconds' must be null or a positive"),
        (["model.text_feature_dim=512"], "config key 'data.text_features' must be set together with "
                                         "model.text_feature_dim > 0 (it is 512), got None"),
        (["data.text_features=t", "model.text_feature_dim=512", "data.glove=g.npy"],
         "config key 'data.glove' must be null when the query comes as text features"),
        (["data.format=qvhighlights"], "config key 'data.format' must be one of"),
    ],
)
def test_jsonl_feature_and_saliency_keys_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_config(None, overrides)


def test_a_checkpoint_config_from_before_a_key_existed_gets_its_default():
    from drn.inference.grounder import config_from_checkpoint

    old = copy.deepcopy(DEFAULTS)
    del old["eval"]["saliency_clip_seconds"], old["data"]["text_features"], old["model"]["text_feature_dim"]
    cfg = config_from_checkpoint({"config": old}, ["eval.top_k=5"], "old.pt")
    assert cfg["eval"]["saliency_clip_seconds"] is None and cfg["model"]["text_feature_dim"] == 0
    assert cfg["eval"]["top_k"] == 5


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_each_shipped_config_says_where_its_files_come_from(name):
    text = (CONFIGS / f"{name}.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    data = load_config(CONFIGS / f"{name}.yaml")["data"]
    for key in ("train", "val", "test", "durations", "features", "vocab", "glove"):
        if data[key] is not None:  # every file the config names is explained in its header
            assert re.search(rf"#\s+(\S+ / )*{key}\b", comments), (name, key)
    assert "--set data." in comments  # and how to point it elsewhere
    assert re.search(r"D = \d+", comments)  # which feature width


@pytest.mark.parametrize("override, key", [
    ("train.epochs=[1, 0, true]", "train.epochs"), ("train.compile=1", "train.compile"), ("train.seed=1.5", "train.seed"),
    ("eval.top_k=true", "eval.top_k"), ("model.lstm_hidden=false", "model.lstm_hidden"),
    ("train.lr=[.nan, 0, 0]", "train.lr"), ("data.durations=[]", "data.durations"), ("train.device=gpu", "train.device"),
])
def test_booleans_are_not_numbers_and_every_key_is_typed(override, key):
    with pytest.raises(ConfigError, match=f"config key '{re.escape(key)}' must be"):
        load_config(None, [override])


@pytest.mark.parametrize("amp, train_precision, eval_precision", [(True, "bf16", "bf16"), (False, "fp32", "auto")])
def test_train_amp_of_earlier_versions_reads_as_the_precisions(amp, train_precision, eval_precision, tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(f"train:\n  amp: {str(amp).lower()}\n  batch_size: 8\n")
    cfg = load_config(path)
    assert "amp" not in cfg["train"] and cfg["train"]["batch_size"] == 8
    assert (cfg["train"]["precision"], cfg["eval"]["precision"]) == (train_precision, eval_precision)
    saved = {"train": {"amp": amp}, "eval": {"precision": "fp32"}}
    upgraded = upgrade_config(saved)
    assert upgraded["eval"]["precision"] == "fp32"  # given: kept
    assert saved == {"train": {"amp": amp}, "eval": {"precision": "fp32"}}  # a copy; the input is untouched
    assert upgrade_config({"train": {"precision": "bf16"}}) == {"train": {"precision": "bf16"}}


def test_saliency_head_auto_is_decided_by_the_training_split(tmp_path):
    cfg = load_config(None, [])
    assert cfg["model"]["saliency_head"] == "auto"
    assert model_config(cfg, vocab_size=5).saliency_head is False  # undecided: no head
    asked = []
    decided = resolve_auto(cfg, lambda: asked.append(1) or True)
    assert decided["model"]["saliency_head"] is True and cfg["model"]["saliency_head"] == "auto"
    assert model_config(decided, vocab_size=5).saliency_head is True
    fixed = load_config(None, ["model.saliency_head=false"])
    assert resolve_auto(fixed, lambda: asked.append(2) or True) is fixed and asked == [1]  # only asked for auto


def test_the_published_preset_is_the_charades_config_with_the_published_drn():
    published = load_config(CONFIGS / "charades_sta_published.yaml")
    ours = load_config(CONFIGS / "charades_sta.yaml")
    assert {k: v for k, v in published["data"].items() if k != "num_clips"} == \
        {k: v for k, v in ours["data"].items() if k != "num_clips"}
    assert model_config(published, vocab_size=1302) == DRNConfig.published(vocab_size=1302)
    assert published["data"]["num_clips"] == 32 and published["model"]["saliency_head"] is False
    assert published["train"]["batch_size"] == 32 and published["train"]["crop_probability"] == 0
    assert published["train"]["lr"] == [1e-3, 1e-5, 1e-7] and published["train"]["epochs"] == [10, 5, 5]
