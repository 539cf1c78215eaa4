// Registers the hooks of bench/ts-hooks.mjs; see there. In the process itself where Node has
// module.registerHooks (22.15 and later: the image's release), whose module.register() is
// deprecated and warns on stderr; on a hooks thread with module.register() on Node 20.
import module from 'node:module';

if (typeof module.registerHooks === 'function') {
  const { resolveSync, loadSync } = await import('./ts-hooks.mjs');
  module.registerHooks({ resolve: resolveSync, load: loadSync });
} else {
  module.register('./ts-hooks.mjs', import.meta.url);
}
