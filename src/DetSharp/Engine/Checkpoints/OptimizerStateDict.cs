using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// Converts TorchSharp optimizer state to and from PyTorch's <c>optimizer.state_dict()</c> layout:
/// <c>{'state': {index: {'momentum_buffer': t} | {'step', 'exp_avg', 'exp_avg_sq'}}, 'param_groups': [{'lr', ..., 'initial_lr', 'params': [indices]}]}</c>,
/// indices counting parameters across groups in order. SGD, Adam and AdamW are supported.
/// </summary>
public static class OptimizerStateDict
{
    public static PyDict ToPython(OptimizerHelper optimizer)
    {
        var sd = optimizer.state_dict();
        var groups = optimizer.ParamGroups.Cast<ParamGroup>().ToList();
        var state = new PyDict();
        var paramGroups = new List<object?>();
        int index = 0;
        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            var packed = new PyDict { ["lr"] = group.LearningRate };
            switch (group.Options)
            {
                case SGD.Options o:
                    packed["momentum"] = o.momentum ?? 0.0;
                    packed["dampening"] = o.dampening ?? 0.0;
                    packed["weight_decay"] = o.weight_decay ?? 0.0;
                    packed["nesterov"] = o.nesterov ?? false;
                    packed["maximize"] = o.maximize ?? false;
                    packed["foreach"] = null;
                    packed["differentiable"] = false;
                    break;
                case Adam.Options o:
                    AdamOptions(packed, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize);
                    break;
                case AdamW.Options o:
                    AdamOptions(packed, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize);
                    break;
                default:
                    throw new NotSupportedException($"saving {optimizer.GetType().Name} state is not supported (SGD, Adam, AdamW are).");
            }
            packed["initial_lr"] = group.InitialLearningRate;
            var ids = new List<object?>();
            int count = group.Parameters.Count();
            for (int j = 0; j < count; j++, index++)
            {
                ids.Add((long)index);
                var entry = StateEntry(sd.State[index]);
                if (entry is not null) state[(long)index] = entry;
            }
            packed["params"] = ids;
            paramGroups.Add(packed);
        }
        return new PyDict { ["state"] = state, ["param_groups"] = paramGroups };
    }

    private static void AdamOptions(PyDict packed, double? beta1, double? beta2, double? eps, double? wd, bool? amsgrad, bool? maximize)
    {
        packed["betas"] = PyTuple.Of(beta1 ?? 0.9, beta2 ?? 0.999);
        packed["eps"] = eps ?? 1e-8;
        packed["weight_decay"] = wd ?? 0.0;
        packed["amsgrad"] = amsgrad ?? false;
        packed["maximize"] = maximize ?? false;
        packed["foreach"] = null;
        packed["capturable"] = false;
        packed["differentiable"] = false;
        packed["fused"] = null;
    }

    private static PyDict? StateEntry(OptimizerState state)
    {
        switch (state)
        {
            case SGD.State s when s.momentum_buffer is not null:
                return new PyDict { ["momentum_buffer"] = s.momentum_buffer };
            case Adam.State a when a.exp_avg is not null:
                return AdamEntry(a.step, a.exp_avg, a.exp_avg_sq, a.max_exp_avg_sq);
            case AdamW.State a when a.exp_avg is not null:
                return AdamEntry(a.step, a.exp_avg, a.exp_avg_sq, a.max_exp_avg_sq);
            default:
                return null;
        }
    }

    private static PyDict AdamEntry(long step, Tensor expAvg, Tensor expAvgSq, Tensor? maxExpAvgSq)
    {
        var d = new PyDict { ["step"] = tensor((float)step), ["exp_avg"] = expAvg, ["exp_avg_sq"] = expAvgSq };
        if (maxExpAvgSq is not null) d["max_exp_avg_sq"] = maxExpAvgSq;
        return d;
    }

    /// <summary>Loads PyTorch-layout optimizer state into <paramref name="optimizer"/> (PyTorch's <c>load_state_dict</c> checks).</summary>
    public static void Load(OptimizerHelper optimizer, object? saved, string source)
    {
        if (saved is not PyDict dict || dict.GetOrNull("param_groups") is not List<object?> savedGroups || dict.GetOrNull("state") is not PyDict savedState)
            throw new DetSharpException($"{source}: 'optimizer' is not a PyTorch optimizer state dict (state + param_groups).");
        var groups = optimizer.ParamGroups.Cast<ParamGroup>().ToList();
        if (savedGroups.Count != groups.Count)
            throw new DetSharpException($"{source}: loaded optimizer state has {savedGroups.Count} parameter groups, this optimizer has {groups.Count} (a different paramwise_cfg or model?).");
        var sd = optimizer.state_dict();
        int index = 0;
        for (int g = 0; g < groups.Count; g++)
        {
            var saveGroup = (PyDict)savedGroups[g]!;
            var ids = (List<object?>)saveGroup["params"]!;
            int count = groups[g].Parameters.Count();
            if (ids.Count != count)
                throw new DetSharpException($"{source}: optimizer parameter group {g} has {ids.Count} parameters in the checkpoint and {count} here.");
            ApplyOptions(groups[g], saveGroup);
            for (int j = 0; j < count; j++, index++)
            {
                object key = ids[j]!;
                if (savedState.TryGetValue(key, out var entry) && entry is PyDict e)
                    ApplyState(sd.State[index], e, groups[g].Parameters.ElementAt(j));
            }
        }
    }

    private static void ApplyOptions(ParamGroup group, PyDict saved)
    {
        group.LearningRate = D(saved["lr"]);
        group.InitialLearningRate = saved.TryGetValue("initial_lr", out var init) ? D(init) : group.LearningRate;
        switch (group.Options)
        {
            case SGD.Options o:
                o.momentum = D(saved.GetOrNull("momentum") ?? 0.0);
                o.dampening = D(saved.GetOrNull("dampening") ?? 0.0);
                o.weight_decay = D(saved.GetOrNull("weight_decay") ?? 0.0);
                o.nesterov = saved.GetOrNull("nesterov") is true;
                o.maximize = saved.GetOrNull("maximize") is true;
                break;
            case Adam.Options o:
                (o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize) = AdamOptions(saved);
                break;
            case AdamW.Options o:
                (o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize) = AdamOptions(saved);
                break;
        }
    }

    private static (double, double, double, double, bool, bool) AdamOptions(PyDict saved)
    {
        var betas = saved.GetOrNull("betas") as PyTuple;
        return (betas is null ? 0.9 : D(betas.Items[0]), betas is null ? 0.999 : D(betas.Items[1]), D(saved.GetOrNull("eps") ?? 1e-8),
            D(saved.GetOrNull("weight_decay") ?? 0.0), saved.GetOrNull("amsgrad") is true, saved.GetOrNull("maximize") is true);
    }

    private static void ApplyState(OptimizerState state, PyDict saved, Parameter param)
    {
        Tensor? Copy(string key) => saved.GetOrNull(key) is Tensor t ? t.to(param.dtype, param.device).detach().clone().DetachFromDisposeScope() : null;
        switch (state)
        {
            case SGD.State s:
                s.momentum_buffer?.Dispose();
                s.momentum_buffer = Copy("momentum_buffer")!;
                break;
            case Adam.State a:
                a.step = Step(saved.GetOrNull("step"));
                a.exp_avg = Copy("exp_avg")!;
                a.exp_avg_sq = Copy("exp_avg_sq")!;
                a.max_exp_avg_sq = Copy("max_exp_avg_sq") ?? a.max_exp_avg_sq;
                break;
            case AdamW.State a:
                a.step = Step(saved.GetOrNull("step"));
                a.exp_avg = Copy("exp_avg")!;
                a.exp_avg_sq = Copy("exp_avg_sq")!;
                a.max_exp_avg_sq = Copy("max_exp_avg_sq") ?? a.max_exp_avg_sq;
                break;
        }
    }

    private static long Step(object? value) => value switch
    {
        Tensor t => (long)Math.Round(t.ToDouble()),
        null => 0,
        _ => (long)Math.Round(D(value)),
    };

    private static double D(object? value) => Convert.ToDouble(value, CultureInfo.InvariantCulture);
}
