'use strict';
// A thread of PasswordService's pool (piscina): bcrypt, synchronously, at the lowest CPU
// priority. Plain CommonJS so that the same file runs from src/ (tests) and dist/ (copied by
// nest build). See docs/decisions/0021-bcrypt-in-low-priority-threads.md.
const { setPriority } = require('node:os');
const bcrypt = require('bcrypt');

// On Linux the nice value belongs to the thread, and pid 0 names the calling thread: only this
// worker becomes nice 19, so the event loop and the database preempt it. On other systems the
// same call would lower the whole process, so there the threads keep the normal priority.
if (process.platform === 'linux') setPriority(19);

/** @param {{ op: 'hash', password: string, cost: number } | { op: 'compare', password: string, hash: string }} task */
module.exports = (task) =>
  task.op === 'hash'
    ? bcrypt.hashSync(task.password, task.cost)
    : bcrypt.compareSync(task.password, task.hash);
