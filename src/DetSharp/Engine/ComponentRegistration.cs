using DetSharp.Registry;

namespace DetSharp.Engine;

/// <summary>Fills MMDetection's registries with every <c>[Register]</c> class of DetSharp.Core and DetSharp (idempotent).</summary>
public static class ComponentRegistration
{
    private static readonly Lock Gate = new();
    private static bool _done;

    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_done) return;
            foreach (var registry in Registries.All)
            {
                registry.RegisterAssembly(typeof(Registries).Assembly);
                registry.RegisterAssembly(typeof(ComponentRegistration).Assembly);
            }
            _done = true;
        }
    }
}
