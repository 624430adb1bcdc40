// pbjs wrapper for Node ESM. protobufjs/minimal is CommonJS whose exports Node's ESM loader cannot list, so the
// stock es6 wrapper's `import * as $protobuf` sees only `default`; import the default export instead.
import $protobuf from $DEPENDENCY;

$OUTPUT;

export { $root as default };
