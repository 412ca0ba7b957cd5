import {createRequire} from 'node:module';
const require=createRequire(import.meta.url);
let a=performance.now(); require('ws'); console.log('ws-cjs', (performance.now()-a).toFixed(1));
a=performance.now(); await import('zod'); console.log('zod', (performance.now()-a).toFixed(1));
console.log('uptime', performance.now().toFixed(1))
