// esbuild --define: false in dist/player.js (the bundle users get), true in dist/player.test.js (the test API)
declare const PLAYER_TEST_API: boolean;
