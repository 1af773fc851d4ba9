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
        net=network_settings,
        train=train_settings,
        ids=train_params,
        title=lambda wc: f"{wc.dataset}: training {wc.method}",
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
