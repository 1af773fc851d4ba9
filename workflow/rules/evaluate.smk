METHODS = ["affine", "dccnn_lstm"]


def eval_inputs(wc):
    common = {"fixed_labels": ATLAS["labels"], "mask": ATLAS["mask"]}
    if wc.method == "affine":
        return {**common, "warped_labels": preproc(wc.dataset, wc.subject, "labels.nii.gz")}
    reg = f"results/{wc.dataset}/{wc.method}/{wc.subject}"
    return {
        **common,
        "warped_labels": f"{reg}_warped_labels.nii.gz",
        "forward": f"{reg}_fwd_warp.nii.gz",
        "inverse": f"{reg}_inv_warp.nii.gz",
        "timing": f"{reg}_time.json",
    }


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
    log:
        "logs/{dataset}/evaluate/{method}/{subject}.log",
    script:
        "../scripts/evaluate.py"


def test_subjects(wc):
    return subjects(wc.dataset, "test", labelled=True)


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
        jacobian=lambda wc: f"results/{wc.dataset}/dccnn_lstm/{test_subjects(wc)[0]}_jacobian.nii.gz",
        warped=lambda wc: f"results/{wc.dataset}/dccnn_lstm/{test_subjects(wc)[0]}_warped.nii.gz",
        atlas_labels=ATLAS["labels"],
        split="results/{dataset}/split.tsv",
        label_names=TEMPLATE.get("label_names") or [],
    output:
        summary=report("results/{dataset}/report/summary.tsv", category="{dataset}", subcategory="Tables"),
        per_structure=report(
            "results/{dataset}/report/per_structure.tsv", category="{dataset}", subcategory="Tables"
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
        subjects=test_subjects,
    log:
        "logs/{dataset}/report.log",
    script:
        "../scripts/dataset_report.py"
