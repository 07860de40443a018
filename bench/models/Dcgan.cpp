/// \file
/// dcgan_step: the DCGAN generator (transposed convolutions, BN, ReLU,
/// tanh) and discriminator (strided convolutions, BN, LeakyReLU(0.2)) of
/// BENCHMARKS.md, no conv biases, and both players' BCE-with-logits losses.
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"

#include "bench/models/ModelUtil.h"
#include "frontend/Losses.h"
#include "frontend/nn/Layers.h"

namespace kiln::models {

using namespace detail;

DcganConfig DcganConfig::reduced() { return {8, 4, 4, 3, 2}; }

namespace {

/// z [B, nz, 1, 1] -> 4 -> 8 -> 16 -> 32: images [B, channels, 32, 32].
void build_generator(nn::Sequential &gen, const DcganConfig &c) {
  const bool no_bias = false;
  int64_t widths[] = {c.ngf * 4, c.ngf * 2, c.ngf};
  int64_t in = c.nz;
  for (int i = 0; i < 3; ++i) {
    int64_t stride = i == 0 ? 1 : 2, padding = i == 0 ? 0 : 1;
    gen.add<nn::ConvTranspose2d>(in, widths[i], 4, stride, padding, 0, 1,
                                 no_bias);
    gen.add<nn::BatchNorm2d>(widths[i]);
    gen.add<nn::ReLU>();
    in = widths[i];
  }
  gen.add<nn::ConvTranspose2d>(in, c.channels, 4, 2, 1, 0, 1, no_bias);
  gen.add<nn::Tanh>();
}

/// images [B, channels, 32, 32] -> 16 -> 8 -> 4 -> 1: logits [B, 1, 1, 1].
void build_discriminator(nn::Sequential &disc, const DcganConfig &c) {
  const bool no_bias = false;
  int64_t widths[] = {c.ndf, c.ndf * 2, c.ndf * 4};
  int64_t in = c.channels;
  for (int i = 0; i < 3; ++i) {
    disc.add<nn::Conv2d>(in, widths[i], 4, 2, 1, 1, 1, no_bias);
    if (i > 0)
      disc.add<nn::BatchNorm2d>(widths[i]);
    disc.add<nn::LeakyReLU>(0.2);
    in = widths[i];
  }
  disc.add<nn::Conv2d>(in, 1, 4, 1, 0, 1, 1, no_bias);
}

} // namespace

DcganModel dcgan_step(const DcganConfig &c, uint64_t seed) {
  DcganModel m;
  static_cast<Model &>(m) = start("dcgan_step", seed);
  Graph &g = *m.graph;
  nn::Sequential gen(g, "gen"), disc(g, "disc");
  build_generator(gen, c);
  build_discriminator(disc, c);
  Tensor z = add_input(m, "z", f32({c.batch, c.nz, 1, 1}));
  Tensor real = add_input(m, "real", f32({c.batch, c.channels, 32, 32}));
  Tensor ones = g.constant(1.0, f32({c.batch}));
  Tensor zeros = g.constant(0.0, f32({c.batch}));
  m.fake = gen(z);
  Tensor d_real = reshape(disc(real), {c.batch});
  Tensor d_fake = reshape(disc(m.fake), {c.batch});
  m.d_loss = bce_with_logits(d_real, ones) + bce_with_logits(d_fake, zeros);
  m.g_loss = bce_with_logits(d_fake, ones);
  finish(m, {{"d_loss", m.d_loss}, {"g_loss", m.g_loss}, {"fake", m.fake}},
         {&gen, &disc}, /*is_loss=*/true);
  m.gen_params = gen.parameters();
  m.disc_params = disc.parameters();
  return m;
}

} // namespace kiln::models
