using System.Diagnostics;
using System.Text.Json.Nodes;
using static DetSharp.Cli.Tests.HostileFixtures;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// Issue 27: DetSharp with bad and hostile input, through the real CLI — nothing written outside its place, no input
/// overwritten, no crash, one message naming the file and record. One test per item of the issue (numbered as there).
/// </summary>
public sealed class HostileInputTests
{
    private static void AssertOneLineError(CliRunner.Result r, params string[] expected)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}\n{r.Stdout}\n{r.Stderr}");
        foreach (var text in expected) Assert.Contains(text, r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    // 1. Output paths derived from data stay inside their output folder.
    [Fact]
    public void Item01_test_show_dir_keeps_every_picture_inside_the_folder_and_overwrites_no_image()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 3);
        string prefix = tmp["images/a/b"];
        Directory.CreateDirectory(prefix);
        Directory.CreateDirectory(tmp["elsewhere"]);
        File.Copy(Path.Combine(data.ValDir, "val_0000.jpg"), tmp["images/x.jpg"]);
        File.Copy(Path.Combine(data.ValDir, "val_0001.jpg"), tmp["elsewhere/y.jpg"]);
        File.Copy(Path.Combine(data.ValDir, "val_0002.jpg"), Path.Combine(prefix, "z.jpg"));
        string[] names = ["../../x.jpg", tmp["elsewhere/y.jpg"], "z.jpg"];
        string ann = EditCoco(data.ValJson, tmp["hostile_val.json"], root =>
        {
            var images = root["images"]!.AsArray();
            for (int i = 0; i < images.Count; i++) images[i]!["file_name"] = names[i];
        });
        string before = Sha256(tmp["elsewhere/y.jpg"]);
        string ckpt = RandomCheckpoint(tmp["ckpt.pth"]);
        string show = tmp["out/nested/show"];

        var r = CliRunner.RunWithTimeout(300, ["test", SlimConfig, ckpt, "--show-dir", show,
            .. DataOptions(data, $"data.test.ann_file={ann}", $"data.test.img_prefix={prefix}/")]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        var written = Directory.GetFiles(show, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(show, f)).Order().ToList();
        Assert.Equal(3, written.Count);
        Assert.Contains("z.jpg", written);
        Assert.Equal(before, Sha256(tmp["elsewhere/y.jpg"]));
        Assert.Equal(["y.jpg"], Directory.GetFiles(tmp["elsewhere"]).Select(Path.GetFileName));
        Assert.Equal([tmp["images/x.jpg"]], Directory.GetFiles(tmp["images"]));
        Assert.Empty(Directory.GetFiles(tmp["out"]));
    }

    [Fact]
    public void Item01_a_picture_that_cannot_be_written_is_an_error()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string ckpt = RandomCheckpoint(tmp["ckpt.pth"]);
        string show = tmp["show"];
        Directory.CreateDirectory(Path.Combine(show, "val_0000.jpg")); // a folder where the picture should go

        var r = CliRunner.RunWithTimeout(300, ["test", SlimConfig, ckpt, "--show-dir", show, .. DataOptions(data)]);

        AssertOneLineError(r, Path.Combine(show, "val_0000.jpg"));
    }

    [Fact]
    public void Item01_infer_writes_one_picture_per_input_even_when_names_collide()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 2);
        Directory.CreateDirectory(tmp["in/a"]);
        Directory.CreateDirectory(tmp["in/b"]);
        File.Copy(Path.Combine(data.ValDir, "val_0000.jpg"), tmp["in/a/x.jpg"]);
        File.Copy(Path.Combine(data.ValDir, "val_0001.jpg"), tmp["in/b/x.jpg"]);
        string ckpt = RandomCheckpoint(tmp["ckpt.pth"]);

        var r = CliRunner.RunWithTimeout(300, "infer", SlimConfig, ckpt, tmp["in/a/x.jpg"], tmp["in/b/x.jpg"], "--out-dir", tmp["out"]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(2, Directory.GetFiles(tmp["out"]).Length);
        Assert.Contains("wrote 2 pictures", r.Stdout);
    }

    [Fact]
    public void Item01_browse_dataset_writes_one_png_per_image_even_when_names_collide()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        Directory.CreateDirectory(Path.Combine(data.TrainDir, "a"));
        Directory.CreateDirectory(Path.Combine(data.TrainDir, "b"));
        File.Move(Path.Combine(data.TrainDir, "train_0000.jpg"), Path.Combine(data.TrainDir, "a", "x.jpg"));
        File.Move(Path.Combine(data.TrainDir, "train_0001.jpg"), Path.Combine(data.TrainDir, "b", "x.jpg"));
        string ann = EditCoco(data.TrainJson, tmp["two_x.json"], root =>
        {
            var images = root["images"]!.AsArray();
            images[0]!["file_name"] = "a/x.jpg";
            images[1]!["file_name"] = "b/x.jpg";
        });

        var r = CliRunner.Run(["browse-dataset", SlimConfig, "--output-dir", tmp["browse"], .. DataOptions(data, $"data.train.ann_file={ann}")]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(2, Directory.GetFiles(tmp["browse"], "*.png", SearchOption.AllDirectories).Length);
        Assert.Contains("wrote 2 images", r.Stdout);
    }

    // 2. A work dir in use is locked; a crashed run leaves no lock behind.
    [Fact]
    public async Task Item02_a_second_train_into_a_busy_work_dir_stops_naming_the_first_process()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 4, val: 1);
        string work = tmp["work"];
        string[] train = ["train", SlimConfig, "--work-dir", work, "--no-validate", .. DataOptions(data, "runner.max_epochs=1000", "checkpoint_config.interval=1000")];
        using var first = CliRunner.Start(null, train);
        var firstStderr = first.StandardError.ReadToEndAsync(); // drained, so a full pipe never blocks the run
        _ = first.StandardOutput.ReadToEndAsync();
        try
        {
            var watch = Stopwatch.StartNew();
            while (!(Directory.Exists(work) && Directory.GetFiles(work, "*.log").Length > 0) && watch.Elapsed.TotalSeconds < 180 && !first.HasExited)
                await Task.Delay(200);
            if (first.HasExited) Assert.Fail("the first training run ended early: " + await firstStderr);
            int logs = Directory.GetFiles(work, "*.log").Length;

            var second = CliRunner.Run(["train", SlimConfig, "--work-dir", work, .. DataOptions(data, "model.type=NoSuchDetector")]);

            AssertOneLineError(second, "is in use by another training run", $"PID {first.Id}");
            Assert.Equal(logs, Directory.GetFiles(work, "*.log").Length);
        }
        finally
        {
            first.Kill(entireProcessTree: true); // as kill -9: the OS drops the lock with the process
            first.WaitForExit();
        }

        var third = CliRunner.Run(["train", SlimConfig, "--work-dir", work, .. DataOptions(data, "model.type=NoSuchDetector")]);

        Assert.Equal(1, third.ExitCode);
        Assert.Contains("'NoSuchDetector' is not registered", third.Stderr);
    }

    // 3. An output that is one of the inputs is refused.
    [Fact]
    public void Item03_infer_refuses_to_draw_over_its_input_images()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 2);
        string ckpt = RandomCheckpoint(tmp["ckpt.pth"]);
        var before = Directory.GetFiles(data.ValDir, "*.jpg").ToDictionary(f => f, Sha256);

        var r = CliRunner.RunWithTimeout(300, "infer", SlimConfig, ckpt, data.ValDir, "--out-dir", data.ValDir);

        AssertOneLineError(r, "would overwrite the input", "val_0000.jpg");
        foreach (var (file, hash) in before) Assert.Equal(hash, Sha256(file));
    }

    [Fact]
    public void Item03_convert_refuses_to_write_over_its_source_annotations()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string via = Path.Combine(data.TrainDir, "via_region_data.json");
        string before = Sha256(via);

        var r = CliRunner.Run("convert", "via2coco", via, "-o", via, "--category-attribute", "shape", "--classes", "ellipse", "triangle", "square");

        AssertOneLineError(r, via, "would overwrite the input");
        Assert.Equal(before, Sha256(via));
    }

    // 4. A VIA record whose regions is neither a list nor a dict is listed, and nothing is written.
    [Fact]
    public void Item04_via_records_with_malformed_regions_are_listed_and_nothing_is_written()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 3, val: 1);
        string via = Path.Combine(data.TrainDir, "via_region_data.json");
        var root = JsonNode.Parse(File.ReadAllText(via))!.AsObject();
        var records = (root["_via_img_metadata"] ?? root)!.AsObject();
        var keys = records.Select(kv => kv.Key).ToList();
        records[keys[0]]!["regions"] = "polygon";
        records[keys[2]]!["regions"] = 7;
        string bad = tmp["bad_via.json"];
        File.WriteAllText(bad, root.ToJsonString());
        foreach (var f in Directory.GetFiles(data.TrainDir, "*.jpg")) File.Copy(f, tmp[Path.GetFileName(f)]);
        string output = tmp["out.json"];

        var r = CliRunner.Run("convert", "via2coco", bad, "-o", output, "--category-attribute", "shape", "--classes", "ellipse", "triangle", "square");

        AssertOneLineError(r, "2 bad record(s); nothing was written", $"'{keys[0]}'", $"'{keys[2]}'", "'regions'");
        Assert.False(File.Exists(output));
    }

    // 5. Deep nesting is refused with a message, not a stack overflow (exit 134).
    [Fact]
    public void Item05_configs_nested_10000_deep_are_refused_with_file_and_line()
    {
        using var tmp = new TempFolder();
        string py = tmp["deep.py"], pyDict = tmp["deep_dict.py"], yaml = tmp["deep.yaml"];
        File.WriteAllText(py, "x = " + new string('[', 10_000) + new string(']', 10_000) + "\n");
        File.WriteAllText(pyDict, "x = " + string.Concat(Enumerable.Repeat("dict(a=", 10_000)) + "1" + new string(')', 10_000) + "\n");
        File.WriteAllText(yaml, "x: " + new string('[', 10_000) + new string(']', 10_000) + "\n");

        foreach (var file in new[] { py, pyDict, yaml })
            AssertOneLineError(CliRunner.Run("print-config", file), $"{file}:1:", "nests deeper than 100 levels");
    }

    // 6. A config cannot allocate without bound.
    [Fact]
    public void Item06_configs_that_would_build_gigabytes_are_refused_with_file_and_line()
    {
        using var tmp = new TempFolder();
        string repeat = tmp["repeat.py"], doubling = tmp["doubling.py"], bomb = tmp["bomb.yaml"];
        File.WriteAllText(repeat, "model = dict(type='MaskRCNN')\nx = [1] * 10000000000\n");
        File.WriteAllText(doubling, "s = 'detsharp'\n" + string.Concat(Enumerable.Repeat("s = s + s\n", 40)));
        var yaml = new List<string> { "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]" };
        for (int i = 1; i < 10; i++) yaml.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 9))}]");
        File.WriteAllText(bomb, string.Join("\n", yaml) + "\n");
        // Today's code would take the machine's memory: cap the child's GC heap so a regression fails instead.
        var capped = new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x40000000" };

        AssertOneLineError(CliRunner.RunWithEnvironment(120, capped, "print-config", repeat), $"{repeat}:2:", "more than 10,000,000 values");
        AssertOneLineError(CliRunner.RunWithEnvironment(120, capped, "print-config", doubling), doubling, "more than 10,000,000 values");
        AssertOneLineError(CliRunner.RunWithEnvironment(120, capped, "print-config", bomb), bomb, "more than 10,000,000 values");
    }

    // 7. Crafted checkpoints are refused before libtorch allocates or sees them.
    [Fact]
    public void Item07_crafted_checkpoints_fail_naming_the_file_without_allocating_or_native_frames()
    {
        using var tmp = new TempFolder();
        // 50,000,000 floats (200 MB) viewed through a zero stride over one 4-byte element.
        string zeroStride = CraftedCheckpoint(tmp["zero_stride.pth"], storageNumel: 1, storageBytes: 4, offset: 0, size: [50_000_000], stride: [0]);
        string offset = CraftedCheckpoint(tmp["offset.pth"], storageNumel: 4, storageBytes: 16, offset: 1_000_000, size: [2, 2], stride: [2, 1]);
        string numel = CraftedCheckpoint(tmp["numel.pth"], storageNumel: 500_000_000, storageBytes: 4, offset: 0, size: [1], stride: [1]);

        foreach (var file in new[] { zeroStride, offset, numel })
        {
            var r = CliRunner.Run("convert", "weights", file, tmp["out.pth"]);
            AssertOneLineError(r, file, "crafted or corrupt");
            Assert.DoesNotContain("frame #", r.Stderr);
            Assert.False(File.Exists(tmp["out.pth"]));
        }
    }

    // 8. --auto-resume falls back from a dangling latest.pth to the newest valid checkpoint.
    [Fact]
    public void Item08_auto_resume_with_a_dangling_latest_resumes_from_the_newest_valid_checkpoint()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string work = tmp["work"];
        Directory.CreateDirectory(work);
        RandomCheckpoint(Path.Combine(work, "epoch_1.pth"), epoch: 1, iter: 1);
        File.WriteAllText(Path.Combine(work, "epoch_2.pth"), "half a checkpoint"); // corrupt: not a checkpoint
        File.CreateSymbolicLink(Path.Combine(work, "latest.pth"), "epoch_3.pth");   // dangling

        var r = CliRunner.RunWithTimeout(300, ["train", SlimConfig, "--work-dir", work, "--auto-resume", "--no-validate",
            .. DataOptions(data, "runner.max_epochs=1")]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("resuming from " + Path.Combine(work, "epoch_1.pth"), r.Stdout);
        Assert.Contains("latest.pth", r.Stdout);
        Assert.Contains("resumed epoch 1, iter 1", r.Stdout);
    }

    // 9. The demo always ends with a trained, evaluated model, its pictures and its curves, whatever the timing.
    [Fact]
    public void Item09_demo_on_a_machine_far_too_slow_for_its_budget_still_trains_evaluates_and_plots()
    {
        using var tmp = new TempFolder();

        var r = CliRunner.RunWithTimeout(900, "demo", "--out-dir", tmp.Path, "--minutes", "0.01", "--train-images", "8", "--val-images", "4");

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("bbox mAP", r.Stdout);
        Assert.Contains("Epoch(val) [3]", r.Stdout); // the last epoch is evaluated whatever the interval
        Assert.True(File.Exists(Path.Combine(tmp.Path, "map_curves.png")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "loss_curves.png")));
        Assert.Equal(4, Directory.GetFiles(Path.Combine(tmp.Path, "show")).Length);
    }

    // 10. Messages name the file and the record.
    [Fact]
    public void Item10_a_bbox_of_two_numbers_stops_training_when_the_dataset_loads()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string ann = EditCoco(data.TrainJson, tmp["short_bbox.json"], root => root["annotations"]!.AsArray()[0]!["bbox"] = new JsonArray(3, 4));

        var r = CliRunner.RunWithTimeout(300, ["train", SlimConfig, "--work-dir", tmp["work"], .. DataOptions(data, $"data.train.ann_file={ann}", "runner.max_epochs=1", "evaluation.interval=1")]);

        AssertOneLineError(r, ann, "annotations[0]", "train_0000.jpg", "'bbox' must be a list of 4 numbers");
        Assert.DoesNotContain("Epoch [1]", r.Stdout);
    }

    [Fact]
    public void Item10_an_empty_image_is_named_with_its_record()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        File.WriteAllBytes(Path.Combine(data.TrainDir, "train_0001.jpg"), []);

        var convert = CliRunner.Run("convert", "via2coco", Path.Combine(data.TrainDir, "via_region_data.json"), "-o", tmp["out.json"],
            "--category-attribute", "shape", "--classes", "ellipse", "triangle", "square");
        var train = CliRunner.RunWithTimeout(300, ["train", SlimConfig, "--work-dir", tmp["work"], .. DataOptions(data)]);

        AssertOneLineError(convert, "train_0001.jpg", "empty (0 bytes)");
        AssertOneLineError(train, "train_0001.jpg", "empty (0 bytes)", data.TrainJson);
    }

    [Fact]
    public void Item10_a_truncated_checkpoint_is_named()
    {
        using var tmp = new TempFolder();
        string whole = RandomCheckpoint(tmp["whole.pth"]);
        var bytes = File.ReadAllBytes(whole);
        string truncated = tmp["truncated.pth"];
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var r = CliRunner.Run("convert", "weights", truncated, tmp["out.pth"]);

        AssertOneLineError(r, truncated, "truncated");
    }

    [Fact]
    public void Item10_garbage_rle_counts_are_named_with_their_annotation()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 2);
        foreach (var (counts, name) in new[] { ("ooo", "unterminated.json"), ("zzzz", "wrong_total.json") })
        {
            string gt = EditCoco(data.ValJson, tmp[name], root =>
            {
                var a = root["annotations"]!.AsArray()[0]!;
                a["segmentation"] = new JsonObject { ["size"] = new JsonArray(96, 128), ["counts"] = counts };
            });
            string results = tmp["results.json"];
            File.WriteAllText(results, "[]");

            var r = CliRunner.Run("coco-eval", gt, results, "--iou-type", "segm");

            AssertOneLineError(r, gt, "annotations[0]", "val_0000.jpg", "RLE");
        }
    }

    [Fact]
    public void Item10_a_roi_extractor_whose_channels_differ_from_the_neck_is_refused_when_the_model_is_built()
    {
        var r = CliRunner.Run("print-model", SlimConfig, "--cfg-options", "model.roi_head.bbox_roi_extractor.out_channels=16");

        AssertOneLineError(r, "model.roi_head.bbox_roi_extractor.out_channels (16)", "model.neck.out_channels (32)");
    }

    // 11. Temporary checkpoint files of a killed run are removed; a disk-full error reaches the .log.
    [Fact]
    public void Item11_temporary_checkpoints_left_by_a_kill_are_removed_at_the_next_start()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string work = tmp["work"];
        Directory.CreateDirectory(work);
        string stale = Path.Combine(work, ".epoch_3.pth.0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(stale, new byte[3 << 20]);
        string users = Path.Combine(work, "notes.tmp");
        File.WriteAllText(users, "mine");

        var r = CliRunner.Run(["train", SlimConfig, "--work-dir", work, .. DataOptions(data, "model.type=NoSuchDetector")]);

        Assert.Equal(1, r.ExitCode);
        Assert.False(File.Exists(stale), "the killed run's temporary checkpoint is still there");
        Assert.True(File.Exists(users));
        Assert.Contains(".epoch_3.pth.0123456789abcdef0123456789abcdef.tmp", File.ReadAllText(Directory.GetFiles(work, "*.log").Single()));
    }

    [Fact]
    public void Item11_a_failed_checkpoint_write_is_also_written_to_the_log()
    {
        using var tmp = new TempFolder();
        var data = MakeShapes(tmp.Path, train: 2, val: 1);
        string work = tmp["work"];

        // 1 MiB per file: the log fits, the checkpoint (several MB) does not — its write fails as on a full disk
        // (.NET reports EFBIG as "file length too large", ENOSPC as "No space left on device"; both take this path).
        var r = CliRunner.RunWithFileSizeLimit(300, 1024, ["train", SlimConfig, "--work-dir", work, "--no-validate", .. DataOptions(data, "runner.max_epochs=1")]);

        Assert.Equal(1, r.ExitCode);
        var shown = System.Text.RegularExpressions.Regex.Match(r.Stderr, @"^error: (?:\w+Exception: )?(.+?)(?: \(run with --verbose for details\))?$",
            System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(shown.Success, r.Stderr);
        string log = File.ReadAllText(Directory.GetFiles(work, "*.log").Single());
        Assert.Contains("Saving checkpoint at 1 epochs", log);
        Assert.Contains(" - ERROR - " + shown.Groups[1].Value, log);
        Assert.Empty(Directory.GetFiles(work, "*.tmp"));
    }
}
