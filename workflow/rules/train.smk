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
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/train.log",
    benchmark:
        "benchmarks/{dataset}/train.tsv"
    script:
        "../scripts/train.py"
