// The JPEG served when the simulator runs without its media side.

// 64x36 flat-colour baseline JPEG made once with ffmpeg (color=c=0x406080, -q:v 20, bitexact); embedded so
// `media: false` needs neither ffmpeg nor a cache directory.
const BUILTIN_JPEG_BASE64 =
  '/9j/4AAQSkZJRgABAgAAAQABAAD/2wBDAAgoKC8oLzc3Nzc3N0E8QUNDQ0FBQUFDQ0NISEhVVVVISEhDQ0hIUFBVVVxfXFdXVVdfX2RkZHh4c3' +
  'OMjJGsrM//xABMAAEBAAAAAAAAAAAAAAAAAAAABgEBAQAAAAAAAAAAAAAAAAAAAAUQAQAAAAAAAAAAAAAAAAAAAAARAQAAAAAAAAAAAAAAAAAAAAD/' +
  'wAARCAAkAEADASIAAhEAAxEA/9oADAMBAAIRAxEAPwCZAVk0AAAAAAAAAAAAAAAAAAAAAB//2Q==';

export const BUILTIN_JPEG: Buffer = Buffer.from(BUILTIN_JPEG_BASE64, 'base64');
