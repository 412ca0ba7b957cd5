const t=[performance.now()];
const lab=[];
async function m(name, f){ const a=performance.now(); await f(); lab.push(name+' '+(performance.now()-a).toFixed(1)); }
await m('https', ()=>import('node:https'));
await m('commander', ()=>import('commander'));
await m('ws-esm', ()=>import('ws'));
await m('protocol', ()=>import('@corral/protocol'));
console.log(lab.join('\n'), '\nuptime', (performance.now()).toFixed(1));
