"""Settings in one place: the package's defaults are the values of config/config.yaml, and the schema refuses
keys it does not know."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dccnnreg import networks
from dccnnreg.config import LEARNED_METHODS, field_subdivision, load_config, method_settings
from dccnnreg.losses import LossWeights
from dccnnreg.refine import RefineConfig
from dccnnreg.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
COHORT = {"subjects": "sheet.tsv", "template": {"head": "h.nii.gz", "brain_mask": "m.nii.gz", "labels": "l.nii.gz"}}


def fields(cls) -> dict:
    """The default value of each field of a dataclass."""
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory() for f in dataclasses.fields(cls)}


def test_the_planner_knows_the_learned_methods_without_importing_torch():
    assert set(LEARNED_METHODS) == set(networks.METHODS)
    planner = "import sys, dccnnreg.cohort, dccnnreg.config, dccnnreg.nifti, dccnnreg.split"  # as common.smk
    out = subprocess.run([sys.executable, "-c", f"{planner}; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", sorted(networks.METHODS))
def test_network_and_loss_defaults_are_the_config_file(method):
    section = CONFIG[method]
    assert fields(networks.method(method).config) == section["net"]
    assert {k: v for k, v in fields(LossWeights).items() if k in section["loss"]} == section["loss"]


def test_schedule_and_refinement_defaults_are_the_config_file():
    schedule = fields(TrainConfig)
    assert schedule.pop("loss") == LossWeights()
    assert schedule == CONFIG["train"]
    assert {k: v for k, v in fields(RefineConfig).items() if k in CONFIG["register"]["refine"]} == CONFIG["register"]["refine"]
    assert set(fields(RefineConfig)) - set(CONFIG["register"]["refine"]) == {"int_steps"}  # not a user setting


def test_a_partial_config_means_the_config_files_values():
    net, schedule = method_settings("dccnn_lstm", {"train": {"steps": 7}, "dccnn_lstm": {"loss": {"smooth": 2.0}}})
    assert networks.model_config("dccnn_lstm", net).to_dict() == CONFIG["dccnn_lstm"]["net"]
    train = TrainConfig.from_dict(schedule)
    assert train.steps == 7 and train.lr == CONFIG["train"]["lr"]
    assert train.loss.smooth == 2.0 and train.loss.inverse == CONFIG["dccnn_lstm"]["loss"]["inverse"]


def test_an_unknown_key_in_a_method_section_is_an_error():
    with pytest.raises(ValueError, match="features"):
        method_settings("voxelmorph", {"voxelmorph": {"features": [4, 8]}})


def schema_errors(cfg: dict) -> str:
    """The schema's complaint about ``cfg`` ('' when it validates), as the workflow validates it."""
    snakemake_utils = pytest.importorskip("snakemake.utils")
    from snakemake.exceptions import WorkflowError

    try:
        snakemake_utils.validate(cfg, str(SCHEMA), set_default=False)
    except WorkflowError as e:
        return str(e)
    return ""


def test_the_config_files_validate():
    assert schema_errors({**CONFIG, **COHORT}) == ""
    demo = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    assert schema_errors(demo) == ""
    assert schema_errors(load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml",
                                     ROOT / "config" / "cpu_3mm.yaml")) == ""


@pytest.mark.parametrize("path", [("modle",), ("dccnn_lstm", "net", "chanels"), ("train", "loss"), ("grid", "spacing"),
                                  ("register", "refine", "step"), ("split", "tain")])
def test_an_unknown_key_is_an_error_that_names_it(path):
    cfg = yaml.safe_load(yaml.safe_dump({**CONFIG, **COHORT}))
    section = cfg
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = 1
    assert path[-1] in schema_errors(cfg)


@pytest.mark.parametrize("spacing, k", [(1.0, 1), (0.8, 1), (1.5, 2), (2.0, 2), (3.0, 3), (3.0000001, 3), (4.0, 4)])
def test_auto_field_subdivision_writes_fields_at_1mm_or_finer(spacing, k):
    assert field_subdivision("auto", spacing) == k
    assert spacing / k <= 1.0 + 1e-6 and (k == 1 or spacing / (k - 1) > 1.0)


def test_a_given_field_subdivision_is_kept_and_a_wrong_one_refused():
    assert field_subdivision(2, 3.0) == 2 and field_subdivision(1, 3.0) == 1
    for bad in (0, "3", 2.5, True):
        with pytest.raises(ValueError, match="field_subdivision"):
            field_subdivision(bad, 3.0)
    for value, ok in (("auto", True), (3, True), (0, False), ("fine", False)):
        cfg = yaml.safe_load(yaml.safe_dump({**CONFIG, **COHORT}))
        cfg["register"]["field_subdivision"] = value
        assert (schema_errors(cfg) == "") == ok
