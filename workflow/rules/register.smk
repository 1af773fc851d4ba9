rule register:
    input:
        model=rules.train.output.model,
        fixed=ATLAS["brain"],
        moving=lambda wc: [preproc(wc.dataset, s, "brain.nii.gz") for s in register_batches(wc.dataset)[wc.batch]],
        moving_labels=lambda wc: [preproc(wc.dataset, s, "labels.nii.gz") for s in register_batches(wc.dataset)[wc.batch]],
    output:
        directory("results/{dataset}/dccnn_lstm/batch-{batch}"),
    params:
        precision=config["register"]["precision"],
        subjects=lambda wc: register_batches(wc.dataset)[wc.batch],
    wildcard_constraints:
        batch=r"\d+",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/register/batch-{batch}.log",
    benchmark:
        "benchmarks/{dataset}/register/batch-{batch}.tsv"
    script:
        "../scripts/register.py"
