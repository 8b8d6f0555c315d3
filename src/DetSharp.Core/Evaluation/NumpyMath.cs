using System.Globalization;

namespace DetSharp.Evaluation;

/// <summary>The few numpy / Python numerics COCOeval's results depend on, reproduced bit for bit.</summary>
public static class NumpyMath
{
    /// <summary><c>np.linspace(start, stop, num)</c> with endpoint: <c>i * step + start</c>, last element exactly <c>stop</c>.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 0) return y;
        int div = num - 1;
        double delta = stop - start;
        double step = div > 0 ? delta / div : double.NaN;
        for (int i = 0; i < num; i++) y[i] = div > 0 ? i * step + start : start;
        if (num > 1) y[num - 1] = stop;
        return y;
    }

    /// <summary>numpy's pairwise summation of a contiguous float64 array (as used by <c>np.sum</c> / <c>np.mean</c>).</summary>
    public static double PairwiseSum(ReadOnlySpan<double> a)
    {
        int n = a.Length;
        if (n < 8)
        {
            double res = 0.0;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            double res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }

    /// <summary>
    /// <c>np.mean</c> of a 1-D float64 array: the add-reduction starts from 0 and its inner loop sees the array in
    /// buffer-sized chunks of 8192, each summed pairwise (checked bit for bit against pycocotools' stats).
    /// </summary>
    public static double Mean(ReadOnlySpan<double> a)
    {
        double sum = 0.0;
        for (int i = 0; i < a.Length; i += 8192) sum += PairwiseSum(a.Slice(i, Math.Min(8192, a.Length - i)));
        return sum / a.Length;
    }

    /// <summary>Python's <c>'{:.Nf}'.format(v)</c>: exact-value rounding, ties to even (.NET rounds exact ties away from zero).</summary>
    public static string FormatFixed(double value, int digits)
    {
        string format = "F" + digits.ToString(CultureInfo.InvariantCulture);
        if (double.IsFinite(value))
        {
            double scaled = value * Math.Pow(10, digits);
            double frac = scaled - Math.Floor(scaled);
            if (frac == 0.5 && IsExactTie(value, digits))
                return Math.Round(value, digits, MidpointRounding.ToEven).ToString(format, CultureInfo.InvariantCulture);
        }
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>Python's <c>float(f'{v:.Nf}')</c>, as MMDetection rounds metrics.</summary>
    public static double RoundLikePython(double value, int digits) =>
        double.Parse(FormatFixed(value, digits), CultureInfo.InvariantCulture);

    private static bool IsExactTie(double value, int digits)
    {
        // The exact decimal expansion of the double: a tie iff the digits after position `digits` are "5" then zeros.
        string exact = Math.Abs(value).ToString("F60", CultureInfo.InvariantCulture);
        int dot = exact.IndexOf('.');
        var rest = exact.AsSpan(dot + 1 + digits);
        return rest.Length > 0 && rest[0] == '5' && rest[1..].TrimEnd('0').Length == 0;
    }
}
