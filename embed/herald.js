// herald.js
