rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        table="results/{dataset}/eval/{method}/{subject}_structures.tsv",
        summary="results/{dataset}/eval/{method}/{subject}_summary.json",
    params:
        labels=config["evaluation"]["labels"],
    wildcard_constraints:
        method="|".join(METHODS),
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/evaluate/{method}/{subject}.log",
    script:
        "../scripts/evaluate.py"


rule dataset_report:
    input:
        tables=lambda wc: expand(
            "results/{dataset}/eval/{method}/{subject}_structures.tsv",
            dataset=wc.dataset, method=METHODS, subject=test_subjects(wc),
        ),
        summaries=lambda wc: expand(
            "results/{dataset}/eval/{method}/{subject}_summary.json",
            dataset=wc.dataset, method=METHODS, subject=test_subjects(wc),
        ),
        examples=lambda wc: [registration_dir(wc.dataset, m, test_subjects(wc)[0]) for m in DEFORMABLE],
        affine_example=lambda wc: preproc(wc.dataset, test_subjects(wc)[0], "brain.nii.gz"),
        atlas_labels=ATLAS["labels"],
        split="results/{dataset}/split.tsv",
        label_names=TEMPLATE.get("label_names") or [],
    output:
        summary=report("results/{dataset}/report/summary.tsv", category="{dataset}", subcategory="Tables"),
        per_structure=report(
            "results/{dataset}/report/per_structure.tsv", category="{dataset}", subcategory="Tables"
        ),
        structure_dice=report(
            "results/{dataset}/report/dice_by_structure.tsv", category="{dataset}", subcategory="Tables"
        ),
        boxplot=report(
            "results/{dataset}/report/dice_boxplot.png", category="{dataset}", subcategory="Accuracy"
        ),
        jacobian=report(
            "results/{dataset}/report/jacobian.png", category="{dataset}", subcategory="Deformation"
        ),
        overlay=report(
            "results/{dataset}/report/overlay.png", category="{dataset}", subcategory="Deformation"
        ),
    params:
        methods=METHODS,
        deformable=DEFORMABLE,
        subjects=test_subjects,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/report.log",
    script:
        "../scripts/dataset_report.py"
