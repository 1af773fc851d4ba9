rule register:
    input:
        model=rules.train.output.model,
        moving=lambda wc: preproc(wc.dataset, wc.subject, "brain.nii.gz"),
        moving_labels=lambda wc: preproc(wc.dataset, wc.subject, "labels.nii.gz"),
        fixed=ATLAS["brain"],
    output:
        warped="results/{dataset}/dccnn_lstm/{subject}_warped.nii.gz",
        warped_labels="results/{dataset}/dccnn_lstm/{subject}_warped_labels.nii.gz",
        forward="results/{dataset}/dccnn_lstm/{subject}_fwd_warp.nii.gz",
        inverse="results/{dataset}/dccnn_lstm/{subject}_inv_warp.nii.gz",
        jacobian="results/{dataset}/dccnn_lstm/{subject}_jacobian.nii.gz",
        timing="results/{dataset}/dccnn_lstm/{subject}_time.json",
    params:
        precision=config["register"]["precision"],
        prefix=lambda wc: f"results/{wc.dataset}/dccnn_lstm/{wc.subject}",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/register/{subject}.log",
    benchmark:
        "benchmarks/{dataset}/register/{subject}.tsv"
    script:
        "../scripts/register.py"
