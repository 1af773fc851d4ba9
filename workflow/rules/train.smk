rule train:
    input:
        unpack(train_inputs),
    output:
        model="results/{dataset}/{method}/model/model.pt",
        metrics="results/{dataset}/{method}/model/metrics.tsv",
        curve=report(
            "results/{dataset}/{method}/model/training.png",
            category="{dataset}",
            subcategory="Training",
            labels={"method": "{method}"},
        ),
    params:
        method="{method}",
        model=network_settings,
        train=train_settings,
        train_ids=lambda wc: subjects(wc.dataset, "train"),
        val_ids=lambda wc: subjects(wc.dataset, "val"),
        has_labels=lambda wc: all(SHEET.loc[(wc.dataset, s), "labels"] for s in subjects(wc.dataset, "train")),
    wildcard_constraints:
        method="|".join(LEARNED),
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=720,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/train/{method}.log",
    benchmark:
        "benchmarks/{dataset}/train/{method}.tsv"
    script:
        "../scripts/train.py"
