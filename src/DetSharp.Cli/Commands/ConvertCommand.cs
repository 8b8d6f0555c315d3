using System.CommandLine;
using DetSharp.Converters;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp convert via2coco|labelme2coco|cityscapes</c>: annotation converters to COCO JSON (MMDetection's
/// tutorial converter and tools/dataset_converters). Bad records are all listed and nothing is written.
/// <c>detsharp convert weights</c> is <see cref="ConvertWeightsCommand"/>.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var command = new Command("convert", "Convert annotations to COCO format (VIA, labelme, Cityscapes), or weights to a DetSharp .pth.");
        command.Subcommands.Add(Via());
        command.Subcommands.Add(Labelme());
        command.Subcommands.Add(Cityscapes());
        command.Subcommands.Add(ConvertWeightsCommand.Create());
        return command;
    }

    private static Option<string> AreaOption(string fallback)
    {
        var area = new Option<string>("--area")
        {
            Description = "How to compute 'area': bbox (w*h, as the MMDetection balloon tutorial) or polygon (the mask's polygon area).",
            DefaultValueFactory = _ => fallback,
        };
        area.AcceptOnlyFromAmong("bbox", "polygon");
        return area;
    }

    private static Command Via()
    {
        var input = new Argument<string>("via-json") { Description = "VIA 1.x region JSON or VIA 2.x project JSON (e.g. balloon/train/via_region_data.json)." };
        var output = new Option<string>("--out", "-o") { Description = "Output COCO JSON.", Required = true };
        var imageDir = new Option<string?>("--image-dir") { Description = "Folder with the images (default: the JSON's folder); sizes are read from them." };
        var classes = new Option<string[]>("--classes")
        {
            Description = "Category names in id order (default: balloon). Several need --category-attribute.",
            AllowMultipleArgumentsPerToken = true,
        };
        var attribute = new Option<string?>("--category-attribute") { Description = "Region attribute holding each region's category name." };
        var area = AreaOption("bbox");
        var firstCat = new Option<long>("--first-category-id") { Description = "Id of the first category (tutorial: 0).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("via2coco", "VIA polygon regions to COCO, as MMDetection's balloon tutorial (+0.5 on vertices, bbox from raw vertices, annotation ids from 1).")
        {
            input, output, imageDir, classes, attribute, area, firstCat,
        };
        cmd.SetAction(parse =>
        {
            var s = ViaToCoco.Convert(new ViaToCocoOptions
            {
                ViaJson = parse.GetValue(input)!,
                Output = parse.GetValue(output)!,
                ImageDir = parse.GetValue(imageDir),
                Classes = parse.GetValue(classes) is { Length: > 0 } c ? c : null,
                CategoryAttribute = parse.GetValue(attribute),
                Area = parse.GetValue(area) == "polygon" ? AreaMode.Polygon : AreaMode.Bbox,
                FirstCategoryId = parse.GetValue(firstCat),
            });
            Console.Out.WriteLine($"wrote {parse.GetValue(output)}: {s.Images} images, {s.Annotations} annotations, categories {string.Join(", ", s.Categories)}");
            return 0;
        });
        return cmd;
    }

    private static Command Labelme()
    {
        var inputs = new Argument<string[]>("inputs") { Description = "labelme JSON files or folders of them.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out", "-o") { Description = "Output COCO JSON.", Required = true };
        var classes = new Option<string[]>("--classes") { Description = "Category names in id order (default: order of appearance).", AllowMultipleArgumentsPerToken = true };
        var area = AreaOption("polygon");
        var cmd = new Command("labelme2coco", "labelme polygon/rectangle annotations to COCO (category ids from 1, annotation ids from 1).")
        {
            inputs, output, classes, area,
        };
        cmd.SetAction(parse =>
        {
            var s = LabelmeToCoco.Convert(new LabelmeToCocoOptions
            {
                Inputs = parse.GetValue(inputs)!,
                Output = parse.GetValue(output)!,
                Classes = parse.GetValue(classes) is { Length: > 0 } c ? c : null,
                Area = parse.GetValue(area) == "bbox" ? AreaMode.Bbox : AreaMode.Polygon,
            });
            Console.Out.WriteLine($"wrote {parse.GetValue(output)}: {s.Images} images, {s.Annotations} annotations, categories {string.Join(", ", s.Categories)}");
            return 0;
        });
        return cmd;
    }

    private static Command Cityscapes()
    {
        var path = new Argument<string>("cityscapes-path") { Description = "Cityscapes root holding leftImg8bit/ and gtFine/." };
        var imgDir = new Option<string>("--img-dir") { Description = "Image folder name.", DefaultValueFactory = _ => "leftImg8bit" };
        var gtDir = new Option<string>("--gt-dir") { Description = "Ground-truth folder name.", DefaultValueFactory = _ => "gtFine" };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Where the JSON files go (default: cityscapes-path)." };
        var nproc = new Option<int>("--nproc") { Description = "Parallel workers.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("cityscapes", "gtFine *_instanceIds.png to instancesonly_filtered_gtFine_{train,val,test}.json, as MMDetection's cityscapes.py.")
        {
            path, imgDir, gtDir, outDir, nproc,
        };
        cmd.SetAction(parse =>
        {
            var results = CityscapesToCoco.Convert(new CityscapesToCocoOptions
            {
                CityscapesPath = parse.GetValue(path)!,
                ImgDir = parse.GetValue(imgDir)!,
                GtDir = parse.GetValue(gtDir)!,
                OutDir = parse.GetValue(outDir),
                Nproc = Math.Max(1, parse.GetValue(nproc)),
            }, Console.Error.WriteLine);
            foreach (var r in results) Console.Out.WriteLine($"{r.Split}: wrote {r.Output}: {r.Images} images, {r.Annotations} annotations");
            return 0;
        });
        return cmd;
    }
}
