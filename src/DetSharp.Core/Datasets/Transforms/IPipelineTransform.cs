namespace DetSharp.Datasets.Transforms;

/// <summary>
/// One MMDetection pipeline step. It changes <paramref name="sample"/> in place (or returns a replacement) and returns
/// null to drop the sample (training then draws another image). Random choices use only <paramref name="rng"/>.
/// </summary>
public interface IPipelineTransform
{
    DetSample? Apply(DetSample sample, Random rng);
}
