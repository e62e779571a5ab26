// typescript-eslint and ts-api-utils load TypeScript's JS API, which the project's TypeScript 7
// does not have: inside the ESLint process, `typescript` is the 6.0 installed beside this file.
const Module = require('node:module');

const typescript6 = require.resolve('typescript', { paths: [__dirname] });
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'typescript' ? typescript6 : resolveFilename.call(this, request, ...rest);
};
