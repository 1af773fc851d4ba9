rule register:
    input:
        unpack(atlas_for_products),
        unpack(lambda wc: registration_inputs(batch_subjects(wc), wc.dataset, wc.method)),
        model=rules.train.output.model,
    output:
        directory("results/{dataset}/{method}/batch-{batch}"),
    params:
        precision=config["register"]["precision"],
        # refinement's settings only when it runs: with steps 0 they change nothing and rerun nothing
        refine=lambda wc: config["register"]["refine"] if wc.method == "dccnn_lstm" and config["register"]["refine"]["steps"] else None,
        subdivision=lambda wc: (field_subdivision(config["register"]["field_subdivision"], config["grid"]["spacing_mm"])
                                if wc.method == "dccnn_lstm" else 1),
        ids=lambda wc: registration_params(batch_subjects(wc), wc.dataset),
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
        unpack(atlas_for_products),
        unpack(lambda wc: registration_inputs([wc.subject], wc.dataset, "syn")),
    output:
        directory("results/{dataset}/syn/{subject}"),
    params:
        preset=config["syn"]["preset"],
        seed=config["syn"]["seed"],
        ids=lambda wc: registration_params([wc.subject], wc.dataset),
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
