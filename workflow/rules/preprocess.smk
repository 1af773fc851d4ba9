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


rule affine:
    input:
        image=lambda wc: row(wc)["image"],
        labels=lambda wc: row(wc)["labels"] or [],
        atlas_head=ATLAS["head"],
    output:
        image="results/{dataset}/preproc/{subject}_affine.nii.gz",
        labels="results/{dataset}/preproc/{subject}_labels.nii.gz",
        affine="results/{dataset}/preproc/{subject}_affine.mat",
    params:
        n4=config["preprocess"]["n4"],
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


rule split:
    output:
        "results/{dataset}/split.tsv",
    params:
        table=lambda wc: SHEET[SHEET["dataset"] == wc.dataset][["subject", "split"]].to_dict("records"),
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/split.log",
    run:
        pd.DataFrame(params.table).to_csv(output[0], sep="\t", index=False)
