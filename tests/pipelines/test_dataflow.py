"""The Dataflow-bound job, built offline: the Dataflow runner translates it into its job request under
--dry_run and returns without submitting (no credentials, no network)."""

from kdaug.cli import main as kdaug
from kdaug.core.recipe import Recipe
from kdaug.pipelines.materialize import Scale, build_pipeline, pipeline_options, prepare
from tests.conftest import write_jsonl

IMAGE = "us-central1-docker.pkg.dev/my-project/kdaug/worker:2.77.0"
ACCELERATOR = "type:nvidia-l4;count:1;install-nvidia-driver"
DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=my-project",
    "--region=us-central1",
    "--temp_location=gs://my-bucket/tmp",
    f"--sdk_container_image={IMAGE}",
    "--sdk_location=container",
    "--experiments=no_use_multiple_sdk_containers",
    "--dry_run=True",
]


def test_dataflow_job_is_right_fitted_and_uses_the_kdaug_container(tmp_path, tiny_teacher):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "a good film", "label": 1}])
    recipe = Recipe(
        input=str(corpus),
        output="gs://my-bucket/kd/mr",
        teacher=str(tiny_teacher),
        augment=["synonym:ratio=0.3,copies=4"],
        device="cuda",
    )  # no GPU here: the workers have it
    plan = prepare(recipe, "pytest", Scale(accelerator=ACCELERATOR, min_ram="16GB"))
    result = build_pipeline(plan, pipeline_options(DATAFLOW)).run()
    proto = result.job.proto_pipeline
    transforms = proto.components.transforms
    envs = proto.components.environments
    env_of = {t.unique_name: t.environment_id for t in transforms.values() if t.environment_id}
    gpu_env = env_of[
        "LabelAndWrite/LabelWithTeacher/BeamML_RunInference/ParDo(_RunInferenceDoFn)/ParDo(_RunInferenceDoFn)"
    ]
    hints = dict(envs[gpu_env].resource_hints)
    assert hints["beam:resources:accelerator:v1"] == ACCELERATOR.encode()
    assert hints["beam:resources:min_ram_bytes:v1"] == b"16000000000"
    # Labelling and writing on the accelerator workers; reading and augmenting on the others.
    assert env_of["LabelAndWrite/WriteParquet"] == gpu_env
    assert not dict(envs[env_of["Augment"]].resource_hints)
    assert "ToLabellingWorkers/ReshufflePerKey" in env_of  # the fusion break before the hinted step
    for env in envs.values():  # every environment runs the kdaug worker image
        assert IMAGE.encode() in env.payload
    options = result.job.options.get_all_options()
    assert "no_use_multiple_sdk_containers" in options["experiments"]


def test_cli_dry_run_builds_without_running(tmp_path, tiny_teacher, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "a good film", "label": 1}])
    out = tmp_path / "never-written"
    code = kdaug(
        [
            "materialize",
            "--input",
            str(corpus),
            "--output",
            str(out),
            "--teacher",
            str(tiny_teacher),
            "--augment",
            "synonym:ratio=0.3,copies=2",
            "--teacher-accelerator",
            ACCELERATOR,
            *DATAFLOW,
        ]
    )
    assert code == 0 and "built" in capsys.readouterr().out
    assert not out.exists()
