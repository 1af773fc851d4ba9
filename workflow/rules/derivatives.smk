rule bids_derivatives:
    input:
        unpack(derivatives_inputs),
        template_labels=TEMPLATE["labels"],
        label_names=LABEL_NAMES,
    output:
        directory(DERIVATIVES),
    params:
        source_root=lambda wc: config["bids"]["root"],
        units=derivative_units,
        images=lambda wc: dict(zip(SHEET["subject"], SHEET["image"])),
        reference=TEMPLATE["head"],
        config=config,
    localrule: True
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/bids_derivatives.log",
    benchmark:
        "benchmarks/bids_derivatives.tsv"
    script:
        "../scripts/bids_derivatives.py"
