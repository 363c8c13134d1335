// Jest transformer for node_modules. Node >= 20.19 lets CommonJS `require()` ES modules (the
// app relies on it at run time: @fastify/static requires the ESM-only content-disposition),
// but Jest's module system only does so on Node >= 24.9. When Jest loads an ES module through
// `require` (options.supportsStaticESM is false), this rewrites it to CommonJS with
// TypeScript's transpiler; everything else passes through untouched.
const ts = require('typescript');

const ESM_SYNTAX = /^\s*(import|export)\s/m;

module.exports = {
  process(source, filename, options) {
    if (options.supportsStaticESM || !ESM_SYNTAX.test(source)) return { code: source };
    const { outputText } = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        allowJs: true,
        esModuleInterop: true,
      },
    });
    return { code: outputText };
  },
  getCacheKey(source, filename, options) {
    return `${require('node:crypto').createHash('sha1').update(source).digest('hex')}:${filename}:${options.supportsStaticESM}:v1`;
  },
};
