"""Measurements that judge a set of synthetic echocardiograms against real ones.

    features        FeatureNetwork: the bottleneck of the real-trained segmenter as a feature space
    distances       Fréchet distance and kernel (KID) distance between two feature sets, KID's bootstrap
    realism         FD and KID of the synthetic set and of the floor at one N, over several draws
    floor           the realism floor: halves of the test patients, unseen by the feature network
    standardisation per-dimension standardisation of features by a reference set
    ssim            SSIM of every image of one set against every image of another (MONAI's SSIM)
    memorisation    nearest training image of each synthetic image; the fraction "memorised"
    memorisation_control  training maps against held-out maps; the decision rule
    adherence       Dice between the segmenter's prediction and the map an image was drawn from
    diversity       spread of the samples drawn from one map with different seeds
    figures         worst-adherence cases, closest pairs, nearest-distance histograms
    inputs          the synthetic set and the real frames, read and checked
    measures        Evaluation: every measure of one set (the parts of evaluation.json)
    report          report.md, and the quality section of the pipeline's report

The program that uses them: echo_segmentation.evaluate_synthetic.
"""
