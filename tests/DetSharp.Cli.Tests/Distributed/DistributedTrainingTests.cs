using System.Globalization;
using DetSharp.Apis;
using DetSharp.Engine.Checkpoints;
using OpenCvSharp;
using Xunit.Abstractions;

namespace DetSharp.Cli.Tests.Distributed;

/// <summary>
/// Issue 25's acceptance: two ranks under <c>mpirun</c> with samples_per_gpu=1 train to the same parameters as one process
/// with samples_per_gpu=2 on the same two images, and a distributed <c>test</c> writes exactly the single-process results,
/// through libtorch and through ONNX Runtime (<c>--backend onnxruntime</c>).
/// A tiny RetinaNet (the first two stages of a ResNet-18 with SyncBN in training mode, randomly initialised, one FPN level
/// of stride 8) on 64×64 pictures keeps each run to seconds (the unused stages 3–4 would only add weights to initialise,
/// broadcast and checkpoint). SyncBN gives the two ranks the batch statistics of both images, which the single
/// process's BatchNorm takes over its batch of two; with plain BN each rank would normalise by its own image's statistics.
/// Each run evaluates once (epoch 3) while training: rank 0 logs the metric of all test images, once. A checkpoint of
/// either run resumes at the other world size (epoch 2 → 3) and ends with the uninterrupted run's parameters. The two training images hold one square each, the second moved by 16 pixels (a multiple of
/// the stride): both get the same number of positive anchors, so the focal loss normalised over a batch of two equals the
/// mean of the two per-image losses, and the averaged gradients of the ranks equal the single process's gradient.
/// The pictures differ, so a run that does not average its gradients (each rank stepping with its own) or that does not
/// start every rank from rank 0's random weights (each rank seeds with seed + rank) ends with other parameters.
/// </summary>
public sealed class DistributedTrainingTests(ITestOutputHelper output)
{
    private const string Config = """
        model = dict(
            type='RetinaNet',
            backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1, ), frozen_stages=-1,
                          norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False, style='pytorch'),
            neck=dict(type='FPN', in_channels=[128], out_channels=16, start_level=0, num_outs=1),
            bbox_head=dict(
                type='RetinaHead', num_classes=1, in_channels=16, stacked_convs=1, feat_channels=16,
                anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2, scales_per_octave=1, ratios=[1.0], strides=[8]),
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
            train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
                           allowed_border=-1, pos_weight=-1, debug=False),
            test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))
        img_norm_cfg = dict(mean=[100.0, 100.0, 100.0], std=[50.0, 50.0, 50.0], to_rgb=False)
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', img_scale=(64, 64), keep_ratio=True),
            dict(type='RandomFlip', flip_ratio=0.0),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='Pad', size_divisor=32),
            dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
        ]
        test_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
                dict(type='Resize', keep_ratio=True),
                dict(type='RandomFlip'),
                dict(type='Normalize', **img_norm_cfg),
                dict(type='Pad', size_divisor=32),
                dict(type='ImageToTensor', keys=['img']),
                dict(type='Collect', keys=['img']),
            ]),
        ]
        data = dict(
            samples_per_gpu=2,
            workers_per_gpu=0,
            train=dict(type='CocoDataset', classes=('square', ), ann_file='train.json', img_prefix='', pipeline=train_pipeline),
            val=dict(type='CocoDataset', classes=('square', ), ann_file='test.json', img_prefix='', pipeline=test_pipeline),
            test=dict(type='CocoDataset', classes=('square', ), ann_file='test.json', img_prefix='', pipeline=test_pipeline))
        optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
        optimizer_config = dict(grad_clip=None)
        lr_config = dict(policy='step', step=[100])
        runner = dict(type='EpochBasedRunner', max_epochs=3)
        checkpoint_config = dict(interval=1)
        evaluation = dict(interval=3, metric='bbox')
        log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
        seed = 5
        """;

    [MpiFact]
    public void TwoRanksWithOneImageEachTrainAsOneProcessWithTwo_AndTestTheSame()
    {
        string tmp = Directory.CreateTempSubdirectory("detsharp-mpi").FullName;
        try
        {
            string config = WriteFixture(tmp);
            string single = Path.Combine(tmp, "single"), dist = Path.Combine(tmp, "dist");
            var one = CliRunner.RunWithTimeout(300, "train", config, "--work-dir", single);
            Assert.True(one.ExitCode == 0, one.Stdout + one.Stderr);
            var two = MpiRun.Run(2, 300, "train", config, "--work-dir", dist, "--launcher", "mpi", "--cfg-options", "data.samples_per_gpu=1");
            Assert.True(two.ExitCode == 0, two.Stdout + two.Stderr);
            Assert.Contains("Distributed training: True", two.Stdout, StringComparison.Ordinal);
            Assert.Contains("SyncBN: 10 layers share their batch statistics over the 2 ranks", two.Stdout, StringComparison.Ordinal);

            double worst = MaxRelativeDifference(Path.Combine(single, "epoch_3.pth"), Path.Combine(dist, "epoch_3.pth"));
            double moved = MaxRelativeDifference(Path.Combine(single, "epoch_1.pth"), Path.Combine(single, "epoch_3.pth"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"3 iterations: 2 ranks vs 1 process differ by {worst:E2} (relative); iterations 2-3 moved the parameters by {moved:E2}"));
            Assert.True(moved > 1e-3, $"training hardly moved the parameters ({moved:E2}), so the comparison would prove nothing");
            Assert.True(worst < 1e-4, $"2 ranks × 1 image and 1 process × 2 images ended with different parameters (relative difference {worst:E2})");

            // Evaluation while training: one val record in rank 0's JSON log, on one line of the ranks' joint output, with
            // the single process's metric (the results of both ranks' shares gathered on rank 0).
            double singleMap = EvaluatedMap(single), distMap = EvaluatedMap(dist);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bbox_mAP after epoch 3: 1 process {singleMap}, 2 ranks {distMap}"));
            Assert.Equal(singleMap, distMap, 3);
            Assert.Single(two.Stdout.Split('\n'), line => line.Contains("bbox_mAP: ", StringComparison.Ordinal));

            // Resume at another world size: epoch 2 of the 2-rank run finished in 1 process, epoch 2 of the 1-process run on 2 ranks.
            string resumedOne = Path.Combine(tmp, "resumed-one"), resumedTwo = Path.Combine(tmp, "resumed-two");
            var fromTwo = CliRunner.RunWithTimeout(300, "train", config, "--work-dir", resumedOne, "--no-validate", "--resume-from", Path.Combine(dist, "epoch_2.pth"));
            Assert.True(fromTwo.ExitCode == 0, fromTwo.Stdout + fromTwo.Stderr);
            Assert.Contains("resumed epoch 2, iter 2", fromTwo.Stdout, StringComparison.Ordinal);
            var fromOne = MpiRun.Run(2, 300, "train", config, "--work-dir", resumedTwo, "--no-validate", "--launcher", "mpi",
                "--resume-from", Path.Combine(single, "epoch_2.pth"), "--cfg-options", "data.samples_per_gpu=1");
            Assert.True(fromOne.ExitCode == 0, fromOne.Stdout + fromOne.Stderr);
            foreach (var resumed in new[] { resumedOne, resumedTwo })
            {
                Assert.False(File.Exists(Path.Combine(resumed, "epoch_2.pth")));
                double diff = MaxRelativeDifference(Path.Combine(single, "epoch_3.pth"), Path.Combine(resumed, "epoch_3.pth"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(resumed)}: epoch 3 differs from the uninterrupted run by {diff:E2}"));
                Assert.True(diff < 1e-4, $"{resumed}: resumed at another world size, epoch 3 differs from the uninterrupted run by {diff:E2}");
                using var last = Checkpoint.Load(Path.Combine(resumed, "epoch_3.pth"));
                Assert.Equal((3, 3), (last.Epoch, last.Iter));
            }

            string checkpoint = Path.Combine(single, "epoch_3.pth");
            string outOne = Path.Combine(tmp, "one.json"), outTwo = Path.Combine(tmp, "two.json");
            var testOne = CliRunner.RunWithTimeout(300, "test", config, checkpoint, "--out", outOne);
            Assert.True(testOne.ExitCode == 0, testOne.Stdout + testOne.Stderr);
            var testTwo = MpiRun.Run(2, 300, "test", config, checkpoint, "--out", outTwo, "--launcher", "mpi");
            Assert.True(testTwo.ExitCode == 0, testTwo.Stdout + testTwo.Stderr);
            string expected = File.ReadAllText(outOne);
            Assert.Contains("\"bboxes\":[[", expected, StringComparison.Ordinal);
            Assert.Equal(expected, File.ReadAllText(outTwo));

            // Through ONNX Runtime (issue 24): each rank opens its own session; the gathered results are the single
            // process's, which are libtorch's (the 64 × 64 pictures pad to the exported 64 × 64 in both backends).
            string onnx = Path.Combine(tmp, "model.onnx"), ortOne = Path.Combine(tmp, "ort-one.json"), ortTwo = Path.Combine(tmp, "ort-two.json");
            var export = CliRunner.RunWithTimeout(300, "export", "onnx", config, checkpoint, "-o", onnx);
            Assert.True(export.ExitCode == 0, export.Stdout + export.Stderr);
            var ortTestOne = CliRunner.RunWithTimeout(300, "test", config, onnx, "--backend", "onnxruntime", "--out", ortOne);
            Assert.True(ortTestOne.ExitCode == 0, ortTestOne.Stdout + ortTestOne.Stderr);
            var ortTestTwo = MpiRun.Run(2, 300, "test", config, onnx, "--backend", "onnxruntime", "--out", ortTwo, "--launcher", "mpi");
            Assert.True(ortTestTwo.ExitCode == 0, ortTestTwo.Stdout + ortTestTwo.Stderr);
            Assert.Equal(File.ReadAllText(ortOne), File.ReadAllText(ortTwo));
            var parity = ResultsComparison.Compare(outOne, ortOne);
            Assert.Equal(60, parity.Images.Sum(i => i.Expected));
            Assert.True(parity.Agree, $"max box diff {parity.MaxBoxDiff:g3} px, max score diff {parity.MaxScoreDiff:g3}, {parity.Images.Count(i => i.SameKeptSet)} of 3 images with the same kept set");

            // Rank 1's share (images 1 and 0) holds a picture that is gone: rank 1 stops, names itself and the file, and
            // ends rank 0, which would otherwise wait for rank 1's results.
            File.Delete(Path.Combine(tmp, "test1.png"));
            var failing = MpiRun.Run(2, 120, "test", config, checkpoint, "--out", Path.Combine(tmp, "x.json"), "--launcher", "mpi");
            Assert.NotEqual(0, failing.ExitCode);
            Assert.Contains("rank 1 of 2: error:", failing.Stderr, StringComparison.Ordinal);
            Assert.Contains("test1.png", failing.Stderr, StringComparison.Ordinal);
            Assert.Contains("ending the other ranks", failing.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }

    /// <summary>The bbox_mAP of the one evaluation in the run's JSON log.</summary>
    private static double EvaluatedMap(string workDir)
    {
        var log = Assert.Single(Directory.GetFiles(workDir, "*.log.json"));
        var records = File.ReadLines(log).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement)
            .Where(r => r.TryGetProperty("mode", out var mode) && mode.GetString() == "val").ToList();
        return Assert.Single(records).GetProperty("bbox_mAP").GetDouble();
    }

    /// <summary>Training pictures with one square each (the second moved by 16 px), three test pictures, their COCO files and the config.</summary>
    private static string WriteFixture(string dir)
    {
        void Picture(string name, int x, int y, Scalar color)
        {
            using var img = new Mat(64, 64, MatType.CV_8UC3, new Scalar(40, 60, 80));
            Cv2.Rectangle(img, new Rect(x, y, 16, 16), color, -1);
            Cv2.ImWrite(Path.Combine(dir, name), img);
        }
        Picture("train1.png", 8, 8, new Scalar(250, 250, 250));
        Picture("train2.png", 24, 24, new Scalar(200, 30, 220));
        Picture("test0.png", 16, 8, new Scalar(250, 250, 250));
        Picture("test1.png", 40, 24, new Scalar(200, 30, 220));
        Picture("test2.png", 8, 40, new Scalar(250, 250, 250));
        static string Coco(params (string File, int X, int Y)[] images) =>
            "{\"images\":[" + string.Join(",", images.Select((im, i) => $"{{\"id\":{i + 1},\"file_name\":\"{im.File}\",\"width\":64,\"height\":64}}"))
            + "],\"annotations\":[" + string.Join(",", images.Select((im, i) => $"{{\"id\":{i + 1},\"image_id\":{i + 1},\"category_id\":1,\"bbox\":[{im.X},{im.Y},16,16],\"area\":256,\"iscrowd\":0}}"))
            + "],\"categories\":[{\"id\":1,\"name\":\"square\"}]}";
        File.WriteAllText(Path.Combine(dir, "train.json"), Coco(("train1.png", 8, 8), ("train2.png", 24, 24)));
        File.WriteAllText(Path.Combine(dir, "test.json"), Coco(("test0.png", 16, 8), ("test1.png", 40, 24), ("test2.png", 8, 40)));
        string config = Path.Combine(dir, "tiny_retinanet.py");
        File.WriteAllText(config, Config.Replace("ann_file='", $"ann_file='{dir}/", StringComparison.Ordinal).Replace("img_prefix=''", $"img_prefix='{dir}/'", StringComparison.Ordinal));
        return config;
    }

    /// <summary>The largest max|a - b| / max(max|a|, 1e-3) over the floating-point tensors of two checkpoints.</summary>
    private static double MaxRelativeDifference(string a, string b)
    {
        using var ca = Checkpoint.Load(a);
        using var cb = Checkpoint.Load(b);
        double worst = 0;
        foreach (var (key, ta) in ca.StateDict)
        {
            if (!ta.is_floating_point()) continue;
            var tb = cb.StateDict[key];
            double scale = Math.Max(ta.abs().max().item<float>(), 1e-3);
            worst = Math.Max(worst, (ta - tb).abs().max().item<float>() / scale);
        }
        return worst;
    }
}
