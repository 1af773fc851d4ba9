rule atlas:
    input:
        head=TEMPLATE["head"],
        brain_mask=TEMPLATE["brain_mask"],
        labels=TEMPLATE["labels"],
    output:
        **ATLAS,
    params:
        shape=config["grid"]["shape"],
        spacing=config["grid"]["spacing_mm"],
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/atlas.log",
    benchmark:
        "benchmarks/atlas.tsv"
    script:
        "../scripts/atlas.py"


rule affine_reference:
    input:
        head=TEMPLATE["head"],
        brain_mask=TEMPLATE["brain_mask"],
    output:
        "results/atlas/affine_reference.nii.gz",
    params:
        shape=config["grid"]["shape"],
        spacing=config["grid"]["spacing_mm"],
        fine_spacing=config["preprocess"]["affine_spacing_mm"],
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/affine_reference.log",
    benchmark:
        "benchmarks/affine_reference.tsv"
    script:
        "../scripts/affine_reference.py"


checkpoint check_inputs:
    input:
        # files that exist (a missing one is reported by the check, not the planner)
        lambda wc: [f for _, *files in chunk_files(wc) for f in files if f and os.path.exists(f)],
    output:
        "results/{dataset}/inputs/chunk-{chunk}.tsv",
    params:
        files=chunk_files,
    wildcard_constraints:
        chunk=r"\d+",
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/check_inputs/chunk-{chunk}.log",
    benchmark:
        "benchmarks/{dataset}/check_inputs/chunk-{chunk}.tsv"
    script:
        "../scripts/check_inputs.py"


rule affine:
    input:
        image=lambda wc: row(wc)["image"],
        atlas_head=ATLAS["head"],
        atlas_mask=ATLAS["mask"],
        reference=AFFINE_REFERENCE,
        check=lambda wc: check_paths(wc.dataset, [wc.subject]),
    output:
        image="results/{dataset}/preproc/{subject}_affine.nii.gz",
        affine="results/{dataset}/preproc/{subject}_affine.mat",
    params:
        n4=config["preprocess"]["n4"],
        metric=config["preprocess"]["affine_metric"],
        mask_mm=config["preprocess"]["affine_mask_mm"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/affine/{subject}.log",
    benchmark:
        "benchmarks/{dataset}/affine/{subject}.tsv"
    script:
        "../scripts/affine.py"


rule labels_to_grid:
    input:
        labels=lambda wc: row(wc)["labels"],
        image=lambda wc: row(wc)["image"],
        atlas_head=ATLAS["head"],
        affine=rules.affine.output.affine,
    output:
        "results/{dataset}/preproc/{subject}_labels.nii.gz",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/labels_to_grid/{subject}.log",
    benchmark:
        "benchmarks/{dataset}/labels_to_grid/{subject}.tsv"
    script:
        "../scripts/labels_to_grid.py"


rule skull_strip:
    input:
        image=rules.affine.output.image,
        atlas_head=ATLAS["head"],
        atlas_mask=ATLAS["mask"],
    output:
        brain="results/{dataset}/preproc/{subject}_brain.nii.gz",
        mask="results/{dataset}/preproc/{subject}_mask.nii.gz",
        qc=report(
            "results/{dataset}/qc/{subject}_skullstrip.png",
            category="{dataset}",
            subcategory="Skull stripping QC",
            labels={"subject": "{subject}"},
        ),
    params:
        enabled=config["preprocess"]["skull_strip"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/skull_strip/{subject}.log",
    benchmark:
        "benchmarks/{dataset}/skull_strip/{subject}.tsv"
    script:
        "../scripts/skull_strip.py"


rule preprocess_qc:
    input:
        unpack(preprocess_qc_inputs),
    output:
        "results/{dataset}/qc/preprocess/batch-{batch}.tsv",
    params:
        subjects=preprocess_qc_pairs,
    wildcard_constraints:
        batch=r"\d+",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/preprocess_qc/batch-{batch}.log",
    benchmark:
        "benchmarks/{dataset}/preprocess_qc/batch-{batch}.tsv"
    script:
        "../scripts/preprocess_qc.py"


rule split:
    output:
        "results/{dataset}/split.tsv",
    params:
        table=lambda wc: SHEET[SHEET["dataset"] == wc.dataset][["subject", "participant", "split"]].to_dict("records"),
    localrule: True
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/split.log",
    run:
        pd.DataFrame(params.table).to_csv(output[0], sep="\t", index=False)
