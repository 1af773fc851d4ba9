rule register:
    input:
        model=rules.train.output.model,
        fixed=ATLAS["brain"],
        moving=lambda wc: [preproc(wc.dataset, s, "brain.nii.gz") for s in register_batches(wc.dataset)[wc.batch]],
        moving_labels=lambda wc: [preproc(wc.dataset, s, "labels.nii.gz") for s in register_batches(wc.dataset)[wc.batch]],
    output:
        directory("results/{dataset}/{method}/batch-{batch}"),
    params:
        precision=config["register"]["precision"],
        subjects=lambda wc: register_batches(wc.dataset)[wc.batch],
    wildcard_constraints:
        method="|".join(LEARNED),
        batch=r"\d+",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/register/{method}/batch-{batch}.log",
    benchmark:
        "benchmarks/{dataset}/register/{method}/batch-{batch}.tsv"
    script:
        "../scripts/register.py"


rule register_syn:
    input:
        fixed=ATLAS["brain"],
        moving=lambda wc: preproc(wc.dataset, wc.subject, "brain.nii.gz"),
        moving_labels=lambda wc: preproc(wc.dataset, wc.subject, "labels.nii.gz"),
    output:
        directory("results/{dataset}/syn/{subject}"),
    params:
        preset=config["syn"]["preset"],
        seed=config["syn"]["seed"],
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/register/syn/{subject}.log",
    benchmark:
        "benchmarks/{dataset}/register/syn/{subject}.tsv"
    script:
        "../scripts/register_syn.py"
