def train_inputs(wc):
    def files(split):
        ids = subjects(wc.dataset, split)
        return {
            f"{split}_images": [preproc(wc.dataset, s, "brain.nii.gz") for s in ids],
            f"{split}_labels": [preproc(wc.dataset, s, "labels.nii.gz") for s in ids],
        }

    return {**files("train"), **files("val"), "atlas": ATLAS["brain"], "atlas_labels": ATLAS["labels"]}


rule train:
    input:
        unpack(train_inputs),
    output:
        model="results/{dataset}/model/model.pt",
        metrics="results/{dataset}/model/metrics.tsv",
        curve=report(
            "results/{dataset}/model/training.png",
            category="{dataset}",
            subcategory="Training",
        ),
    params:
        model=config["model"],
        train=config["train"],
        train_ids=lambda wc: subjects(wc.dataset, "train"),
        val_ids=lambda wc: subjects(wc.dataset, "val"),
        has_labels=lambda wc: all(SHEET.loc[(wc.dataset, s), "labels"] for s in subjects(wc.dataset, "train")),
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=720,
    log:
        "logs/{dataset}/train.log",
    benchmark:
        "benchmarks/{dataset}/train.tsv"
    script:
        "../scripts/train.py"
