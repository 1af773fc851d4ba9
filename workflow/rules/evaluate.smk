# The benchmark: every method in `methods` scored against labels on the labelled test subjects.


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        table="results/{dataset}/eval/{method}/batch-{batch}_structures.tsv",
        summary="results/{dataset}/eval/{method}/batch-{batch}_summary.tsv",
    params:
        pairs=eval_pairs,
        labels=config["evaluation"]["labels"],
    wildcard_constraints:
        method="|".join(METHODS),
        batch=r"\d+",
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/evaluate/{method}/batch-{batch}.log",
    benchmark:
        "benchmarks/{dataset}/evaluate/{method}/batch-{batch}.tsv"
    script:
        "../scripts/evaluate.py"


rule dataset_report:
    input:
        unpack(benchmark_inputs),
        atlas_labels=ATLAS["labels"],
        label_names=LABEL_NAMES,
    output:
        summary=report("results/{dataset}/report/summary.tsv", caption="../report/summary.rst",
                       category="{dataset}", subcategory="Benchmark"),
        per_subject=report("results/{dataset}/report/per_subject.tsv", caption="../report/per_subject.rst",
                           category="{dataset}", subcategory="Benchmark"),
        per_structure=report("results/{dataset}/report/per_structure.tsv", caption="../report/per_structure.rst",
                             category="{dataset}", subcategory="Benchmark"),
        structure_dice=report("results/{dataset}/report/dice_by_structure.tsv", caption="../report/dice_by_structure.rst",
                              category="{dataset}", subcategory="Benchmark"),
        boxplot=report("results/{dataset}/report/dice_boxplot.png", caption="../report/dice_boxplot.rst",
                       category="{dataset}", subcategory="Benchmark"),
        jacobian=report("results/{dataset}/report/jacobian.png", caption="../report/jacobian.rst",
                        category="{dataset}", subcategory="Benchmark"),
        overlay=report("results/{dataset}/report/overlay.png", caption="../report/overlay.rst",
                       category="{dataset}", subcategory="Benchmark"),
    params:
        methods=METHODS,
        deformable=DEFORMABLE,
    localrule: True
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/report.log",
    benchmark:
        "benchmarks/{dataset}/report.tsv"
    script:
        "../scripts/dataset_report.py"
